// The trap listener of an snmp source: v1 traps, v2c traps and informs, v3 users (net-snmp's
// Receiver decodes and authenticates), one message per trap.
//
// Informs. net-snmp's Receiver answers an InformRequest (sends its Response) before it hands the
// inform to its callback, so taken as it is, the answer would mean "received", not "committed".
// The source owns the UDP socket instead and gives the Receiver a stand-in (its `dgramModule`
// option): a datagram is passed to the Receiver by hand, what the Receiver sends while decoding it
// is held, and the Receiver (synchronous from datagram to callback) has said by then whether it was
// an inform. An inform's Response goes out only once its message is committed; refused, dropped
// (maxInFlight) or never committed, it gets none and the sender sends it again (snmpinform -r,
// a UPS's own retries). Reports (v3 engine discovery, unknown user) go out at once.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { BlockList, isIP } from 'node:net';
import { ERRORS, GatehouseError, errorMessage } from '../../../../core/errors.js';
import { urlHost } from '../../../../core/bind-host.js';
import { PRIVILEGED_PORT_HINT } from '../../../../core/privileged-port.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { Message } from '../../../../core/message.js';
import { clocksOf } from '../../../../core/clock.js';
import { plainAddress } from '../../../broker/peer-address.js';
import type { Intake } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { topicRenderer } from '../topic-template.js';
import { cidr } from '../syslog/options.js';
import type { NetSnmp, Receiver, TrapPdu, Varbind } from './lib.js';
import type { SnmpMetrics, TrapOutcome } from './metrics.js';
import type { MibNames } from './mibs.js';
import { displayName } from './oids.js';
import type { SnmpTraps } from './options.js';
import { readCommunities } from './secrets.js';
import { usmUser } from './sessions.js';
import { jsonValue, typeName } from './values.js';

const SYS_UPTIME = '1.3.6.1.2.1.1.3.0';
const SNMP_TRAP_OID = '1.3.6.1.6.3.1.1.4.1.0';
const SNMP_TRAP_ADDRESS = '1.3.6.1.6.3.18.1.3.0';
const GENERIC_TRAPS = '1.3.6.1.6.3.1.1.5';

interface Held {
  buf: Buffer;
  port: number;
  address: string;
}

/** What the Receiver did with one datagram, gathered while it ran. */
interface Decoded {
  sent: Held[];
  trap?: { pdu: TrapPdu; rinfo: { address: string; port: number } };
  error?: Error;
}

export class TrapListener {
  private socket: UdpSocket | undefined;
  private receiver: Receiver | undefined;
  private handler: ((buf: Buffer, rinfo: RemoteInfo) => void) | undefined;
  private decoding: Decoded | undefined;
  private intake: Intake | undefined;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly allow: BlockList | undefined;
  private readonly render: (vars: Readonly<Record<string, string>>) => string;
  private readonly log: RateLog;
  private readonly clocks: ReturnType<typeof clocksOf>;
  private stopping = false;
  readonly counts: Partial<Record<TrapOutcome, number>> = {};
  informs = 0;
  address: string | undefined;

  constructor(
    private readonly lib: NetSnmp,
    private readonly name: string,
    private readonly o: SnmpTraps,
    deps: SourceDeps,
    private readonly metrics: SnmpMetrics,
    private readonly mibs?: MibNames,
  ) {
    this.clocks = clocksOf(deps);
    this.log = rateLimitedLog(deps.logger, 'warn', 60_000, this.clocks.monotonic);
    this.render = topicRenderer(o.topic);
    if (o.allow.length > 0) {
      const list = new BlockList();
      for (const c of o.allow) {
        const [address, prefix, family] = cidr(c)!;
        list.addSubnet(address, prefix, family);
      }
      this.allow = list;
    }
  }

  async start(intake: Intake): Promise<void> {
    const o = this.o;
    const where = `sources.${this.name}.traps`;
    // secrets first: a missing file fails the start before the port is taken
    const communities = [...o.communities, ...(o.communityFile ? readCommunities(o.communityFile, `${where}.communityFile`) : [])];
    const users = o.users.map((u, i) => usmUser(this.lib, u, `${where}.users.${i}`));
    const family = isIP(o.host) === 6 || o.host === '::' ? 'udp6' : 'udp4';
    const socket = createSocket({ type: family });
    try {
      socket.bind(o.port, o.host);
      await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([e]) => Promise.reject(e as Error))]);
    } catch (err) {
      socket.close();
      throw ERRORS.GH_SNMP_SOURCE_LISTEN(
        { source: this.name, host: urlHost(o.host), port: o.port, reason: (err as Error).message },
        { where: `${where}.port`, ...((err as NodeJS.ErrnoException).code === 'EACCES' ? { hint: PRIVILEGED_PORT_HINT } : {}), cause: err },
      );
    }
    this.socket = socket;
    this.intake = intake;
    this.stopping = false;
    this.address = `${urlHost(o.host)}:${socket.address().port}`;
    const self = this;
    // The Receiver's socket: bound already (ours); what it sends is held (see the file's head).
    const standIn = {
      on(event: string, fn: (...a: unknown[]) => void) {
        if (event === 'message') self.handler = fn as (buf: Buffer, rinfo: RemoteInfo) => void;
        return standIn;
      },
      bind() {},
      send(buf: Buffer, offset: number, length: number, port: number, address: string, cb?: (err: Error | null, n: number) => void) {
        const held = { buf: Buffer.from(buf.subarray(offset, offset + length)), port, address };
        if (self.decoding) self.decoding.sent.push(held);
        else self.socket?.send(held.buf, held.port, held.address);
        cb?.(null, length);
      },
      close(cb?: () => void) {
        cb?.();
      },
      address: () => socket.address(),
    };
    this.receiver = this.lib.createReceiver(
      {
        port: o.port,
        address: o.host,
        transport: family,
        dgramModule: { createSocket: () => standIn },
        includeAuthentication: true,
        disableAuthorization: false,
      },
      (err, data) => {
        if (!this.decoding) return; // only ever called while a datagram is being decoded
        if (err) this.decoding.error = err;
        else if (data) this.decoding.trap = data;
      },
    );
    const auth = this.receiver.getAuthorizer();
    for (const c of communities) auth.addCommunity(c);
    for (const u of users) auth.addUser(u);
    socket.on('message', (buf, rinfo) => this.datagram(buf, rinfo));
    socket.on('error', (err) => this.log('udp-error', { err: errorMessage(err) }, 'snmp trap listener: UDP socket error'));
  }

  async stop(drainMs: number): Promise<void> {
    // new datagrams are refused (stopped); the commits awaited get their informs answered, then the socket closes
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => (timer = setTimeout(r, drainMs)))]);
    clearTimeout(timer);
    this.socket?.close();
    this.socket = undefined;
    this.receiver = undefined;
    this.handler = undefined;
    this.intake = undefined;
  }

  private count(outcome: TrapOutcome): void {
    this.counts[outcome] = (this.counts[outcome] ?? 0) + 1;
    this.metrics.traps.inc({ source: this.name, outcome });
  }

  private datagram(buf: Buffer, rinfo: RemoteInfo): void {
    const address = plainAddress(rinfo.address) ?? rinfo.address;
    if (this.allow && !this.allow.check(address, address.includes(':') ? 'ipv6' : 'ipv4')) return this.count('denied');
    if (this.stopping || !this.handler || !this.intake) return this.count('stopped');
    if (this.inFlight >= this.o.maxInFlight || !this.intake.accepting()) {
      this.log(
        'busy',
        { inFlight: this.inFlight },
        'snmp trap listener: traps came while maxInFlight waited for their commits: dropped (informs unanswered, their senders retry)',
      );
      return this.count('busy');
    }
    const decoded: Decoded = { sent: [] };
    this.decoding = decoded;
    try {
      this.handler(buf, rinfo);
    } catch (err) {
      decoded.error = err as Error;
    } finally {
      this.decoding = undefined;
    }
    const { trap, error } = decoded;
    if (!trap) {
      // v3 discovery and USM reports go out at once
      for (const h of decoded.sent) this.socket?.send(h.buf, h.port, h.address);
      if (!error) return; // a discovery request, answered
      const unauthorised = /community|user|authenticat|digest|privacy|decrypt/i.test(error.message);
      this.count(unauthorised ? 'unauthorised' : 'invalid');
      this.log(
        unauthorised ? 'unauthorised' : 'invalid',
        // net-snmp's message ends with the community the datagram carried: a device's real community
        // for another system, or a typo of ours, is a secret in the log (and in gatehouse diagnose).
        { ip: address, err: error.message.replace(/(with community ).*$/s, '$1(not shown)') },
        unauthorised ? 'snmp trap listener: a trap from an unknown community or user: dropped' : 'snmp trap listener: a datagram that is no SNMP trap: dropped',
      );
      return;
    }
    const inform = trap.pdu.type === this.lib.PduType.InformRequest;
    const message = this.message(trap.pdu, address, inform);
    const intake = this.intake;
    this.inFlight++;
    const done: Promise<void> = Promise.resolve()
      .then(() => intake.submit(message))
      .then(
        () => {
          this.count('committed');
          if (inform) this.informs++;
          // the inform's Response: only now (see the file's head)
          for (const h of decoded.sent) this.socket?.send(h.buf, h.port, h.address);
        },
        (err: unknown) => {
          this.count('refused');
          const e = err instanceof GatehouseError ? err : undefined;
          this.log(
            `refused:${e?.code ?? 'error'}`,
            { err: errorMessage(err), inform },
            'snmp trap listener: a trap was not committed: dropped (an inform unanswered: its sender retries)',
          );
        },
      )
      .finally(() => {
        this.inFlight--;
        this.pending.delete(done);
      });
    this.pending.add(done);
  }

  private message(pdu: TrapPdu, from: string, inform: boolean): Message {
    const ts = this.clocks.now();
    let version: string;
    let trapOid: string;
    let uptime: number | null = null;
    let agent = from;
    let varbinds: Varbind[] = pdu.varbinds ?? [];
    const body: Record<string, unknown> = {};
    if (pdu.type === this.lib.PduType.Trap) {
      version = '1';
      // RFC 3584 3.1: a v1 trap's snmpTrapOID
      trapOid = pdu.generic === 6 ? `${pdu.enterprise}.0.${pdu.specific}` : `${GENERIC_TRAPS}.${(pdu.generic ?? 0) + 1}`;
      uptime = pdu.upTime ?? null;
      agent = pdu.agentAddr ?? from;
      Object.assign(body, { enterprise: pdu.enterprise, generic: pdu.generic, specific: pdu.specific });
    } else {
      version = pdu.user !== undefined ? '3' : '2c';
      const up = varbinds.find((v) => v.oid === SYS_UPTIME);
      const oid = varbinds.find((v) => v.oid === SNMP_TRAP_OID);
      const addr = varbinds.find((v) => v.oid === SNMP_TRAP_ADDRESS);
      uptime = up ? Number(up.value) : null;
      trapOid = oid ? String(oid.value) : '';
      if (addr) agent = String(addr.value);
      varbinds = varbinds.filter((v) => v !== up && v !== oid);
    }
    const trapName = displayName(trapOid, this.mibs);
    Object.assign(body, {
      agent,
      from,
      version,
      ...(pdu.user !== undefined ? { user: pdu.user } : {}),
      inform,
      trapOid,
      trapName,
      uptime,
      varbinds: varbinds.map((v) => ({ oid: v.oid, name: displayName(v.oid, this.mibs), type: typeName(v.type), value: jsonValue(v) })),
      ts,
    });
    const safe = (s: string): string => (s === '' ? '-' : s.replace(/[/+#]/g, '_'));
    return {
      topic: this.render({ source: this.name, agent: safe(agent), trapOid: safe(trapOid), trapName: safe(trapName), version }),
      payload: Buffer.from(JSON.stringify(body)),
      qos: 1,
      source: { kind: 'snmp', id: `${this.name}/traps` },
      receivedAt: ts,
    };
  }
}
