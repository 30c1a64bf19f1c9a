// net-snmp sessions of the polled targets (their credentials read from their files) and what a
// failed request means: no answer (timeout; a wrong v1/v2c community looks the same), a v3 report
// refusing the user (auth), or anything else the agent answered (protocol).
import { createCipheriv } from 'node:crypto';
import { ERRORS, GatehouseError } from '../../../../core/errors.js';
import type { NetSnmp, SnmpSession, SnmpUserConfig } from './lib.js';
import type { SnmpTarget, SnmpUser } from './options.js';
import { readSecret } from './secrets.js';

export type SnmpErrorKind = 'timeout' | 'auth' | 'protocol';

let des: boolean | undefined;
/**
 * Whether DES-CBC is there: OpenSSL 3 moved it to its legacy provider, so on Node 17+ net-snmp's
 * DES privacy fails each request with 'digital envelope routines::unsupported', which read as the
 * agent refusing the request.
 */
function desAvailable(): boolean {
  if (des === undefined) {
    try {
      createCipheriv('des-cbc', Buffer.alloc(8), Buffer.alloc(8));
      des = true;
    } catch {
      des = false;
    }
  }
  return des;
}

/** The USM user net-snmp takes (keys read from their files); `where`: its key path. */
export function usmUser(lib: NetSnmp, u: SnmpUser, where: string): SnmpUserConfig {
  const user: SnmpUserConfig = { name: u.name, level: lib.SecurityLevel[u.level] as number };
  if (u.level !== 'noAuthNoPriv') {
    user.authProtocol = lib.AuthProtocols[u.authProtocol] as string;
    user.authKey = readSecret(u.authKeyFile as string, `${where}.authKeyFile`, 8);
  }
  if (u.level === 'authPriv') {
    if (u.privProtocol === 'des' && !desAvailable())
      throw new GatehouseError('GH_CONFIG_INVALID', "privProtocol 'des': this Node's OpenSSL 3 has no DES (only in its legacy provider)", {
        where: `${where}.privProtocol`,
        hint: "give the agent's user AES privacy (snmpd.conf: createUser NAME SHA ... AES ...) and set privProtocol: aes; or run node with --openssl-legacy-provider (NODE_OPTIONS in the unit's drop-in)",
      });
    user.privProtocol = lib.PrivProtocols[u.privProtocol] as string;
    user.privKey = readSecret(u.privKeyFile as string, `${where}.privKeyFile`, 8);
  }
  return user;
}

export function openSession(lib: NetSnmp, t: SnmpTarget, where: string): SnmpSession {
  const transport = t.host.includes(':') ? 'udp6' : 'udp4';
  // net-snmp's timeout is per attempt, its retries the attempts after the first (as ours).
  const common = { port: t.port, timeout: t.timeoutMs, retries: t.retries, transport };
  if (t.version === '3') return lib.createV3Session(t.host, usmUser(lib, t.user as SnmpUser, `${where}.user`), { ...common, version: lib.Version3 });
  const community = t.communityFile ? readSecret(t.communityFile, `${where}.communityFile`) : (t.community ?? 'public');
  return lib.createSession(t.host, community, { ...common, version: t.version === '1' ? lib.Version1 : lib.Version2c });
}

/** What a failed request means, as a typed error naming the target. */
export function requestError(lib: NetSnmp, t: SnmpTarget, err: unknown): { kind: SnmpErrorKind; error: GatehouseError } {
  const reason = (err as Error)?.message ?? String(err);
  const where = `target '${t.name}'`;
  if (err instanceof lib.RequestTimedOutError)
    return {
      kind: 'timeout',
      error: ERRORS.GH_SNMP_NO_ANSWER(
        { target: t.name, host: t.host, port: t.port, version: t.version, reason: `no answer in ${t.timeoutMs} ms x ${t.retries + 1}` },
        {
          where,
          // The command a user can paste: this target's address, and sysUpTime.0 as a number, since
          // Debian's snmp package has no MIB files to resolve the name (snmp-mibs-downloader is non-free).
          hint:
            t.version === '3'
              ? `check that the agent runs and its UDP port is open (snmpget -v3 -u USER -l LEVEL ... ${t.host}:${t.port} 1.3.6.1.2.1.1.3.0)`
              : `check that the agent runs and the port is open (snmpget -v${t.version} -c COMMUNITY ${t.host}:${t.port} 1.3.6.1.2.1.1.3.0), and the target's community: a wrong one also times out`,
        },
      ),
    };
  // net-snmp's ResponseInvalidCode ECouldNotDecrypt (4), EAuthFailure (5: a USM report, usmStats*, to
  // a v3 request), ENotInTimeWindow (14)
  const code = (err as Error & { code?: number }).code;
  if (err instanceof lib.ResponseInvalidError && (code === 4 || code === 5 || code === 14))
    return { kind: 'auth', error: ERRORS.GH_SNMP_AUTH({ target: t.name, host: t.host, port: t.port, user: t.user?.name ?? '', reason }, { where }) };
  return { kind: 'protocol', error: ERRORS.GH_SNMP_REQUEST_FAILED({ target: t.name, host: t.host, port: t.port, reason }, { where }) };
}
