// `type: snmp` source kind: polls of SNMP agents (UPSs, PDUs, switches, sensors) and a trap
// listener (options.ts); net-snmp and the source load only when one is configured.
import { join } from 'node:path';
import { GatehouseError } from '../../../../core/errors.js';
import type { SourceKind } from '../kind.js';
import type { NetSnmp } from './lib.js';
import type { MibNames } from './mibs.js';
import { snmpSourceSchema, type SnmpSourceOptions, type SnmpUser } from './options.js';
import { readCommunities, readSecret } from './secrets.js';

export { snmpSourceSchema, type SnmpSourceOptions } from './options.js';

/** Read every secret file as the start will (check-config): a short passphrase is found before a restart. */
function checkSecrets(o: SnmpSourceOptions): void {
  const user = (u: SnmpUser | undefined, where: string): void => {
    if (u?.authKeyFile && u.level !== 'noAuthNoPriv') readSecret(u.authKeyFile, `${where}.authKeyFile`, 8);
    if (u?.privKeyFile && u.level === 'authPriv') readSecret(u.privKeyFile, `${where}.privKeyFile`, 8);
  };
  for (const [i, t] of o.targets.entries()) {
    const where = `sources.${o.name}.targets.${i}`;
    if (t.communityFile) readSecret(t.communityFile, `${where}.communityFile`);
    user(t.user, `${where}.user`);
  }
  if (o.traps?.communityFile) readCommunities(o.traps.communityFile, `sources.${o.name}.traps.communityFile`);
  for (const [i, u] of (o.traps?.users ?? []).entries()) user(u, `sources.${o.name}.traps.users.${i}`);
}

export const snmpSourceKind: SourceKind<typeof snmpSourceSchema> = {
  type: 'snmp',
  schema: snmpSourceSchema,
  preflight(options) {
    checkSecrets(options);
    if (options.mibs.length === 0) return;
    // the MIB files parsed as the start will (without its cache): a name none defines is found now
    return (async () => {
      const { loadMibNames, resolvePollNames } = await import('./mibs.js');
      resolvePollNames(options, await loadMibNames(options.name, options.mibs, undefined));
    })();
  },
  async create(options, deps) {
    let mibs: MibNames | undefined;
    if (options.mibs.length > 0) {
      const { loadMibNames, resolvePollNames } = await import('./mibs.js');
      mibs = await loadMibNames(options.name, options.mibs, join(deps.dataDir, 'snmp', `${options.name}.mibs.json`));
      options = resolvePollNames(options, mibs);
      deps.logger.info({ mibs: options.mibs.length, modules: mibs.modules.length, names: mibs.size }, 'snmp source loaded its MIB files');
      for (const note of mibs.notes.slice(0, 10)) deps.logger.warn({ note }, 'snmp source: a MIB file note (names under it may be missing)');
    }
    let lib: NetSnmp;
    try {
      // A CommonJS module: its module.exports is the ESM default export.
      lib = ((await import('net-snmp')) as unknown as { default: NetSnmp }).default;
    } catch (err) {
      throw new GatehouseError('GH_SOURCE_UNAVAILABLE', `snmp source '${options.name}' cannot load its library`, {
        where: `sources.${options.name}`,
        hint: 'reinstall the gateway (npm install net-snmp)',
        cause: err,
      });
    }
    const { SnmpSource } = await import('./source.js');
    return new SnmpSource(options, lib, deps, mibs);
  },
};
