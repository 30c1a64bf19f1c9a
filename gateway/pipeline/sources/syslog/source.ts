// A `type: syslog` source: RFC 5424 and RFC 3164 messages over UDP, TCP and TLS, each parsed
// (parse.ts) into a JSON message on a templated topic (message.ts) and handed to the intake.
//
// Flow. Plain syslog has no acknowledgement, so what the source can promise differs by transport
// (docs/syslog-source.md, "What is promised"):
// - UDP: a datagram is submitted as it comes; while maxInFlight messages wait for their commits
//   it is dropped and counted (busy), as is one whose commit is refused. What the kernel drops
//   (the receive buffer full) is read from its per-socket count when the status or metrics are
//   read (udp-drops.ts), counted as dropped{reason="receive-buffer"}.
// - TCP, TLS: each read chunk's frames are submitted (the intake's group commit takes them in
//   batches); past maxInFlight uncommitted messages, or while the store refuses commits (full,
//   closed), every stream stops reading, so the sender's own queue (rsyslog's action queue) holds
//   what follows. A message whose commit the store refuses for now is tried again every second
//   until it is committed or the gateway stops.
// - RELP (rsyslog's omrelp): read as TCP, but each message is answered `200 OK` only once it is
//   committed (relp-session.ts): the acknowledgement is the gateway's usual promise.
// - stop(): the listeners close, RELP sessions answer what is committed and say serverclose, every connection is told the gateway closes it (FIN: rsyslog sees
//   it before its next send, and queues) and is read for up to stopDrainMs more, then closed; the
//   submits are waited for (stopDrainMs again).
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import { BlockList, type Server, type Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { ERRORS, GatehouseError, errorMessage } from '../../../../core/errors.js';
import { clocksOf } from '../../../../core/clock.js';
import type { CertExpiryEntry } from '../../../../core/cert-expiry.js';
import { urlHost } from '../../../../core/bind-host.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import type { Message } from '../../../../core/message.js';
import type { ServedTls, TlsReloadOutcome } from '../../../broker/tls-reload.js';
import { peerAddress, plainAddress } from '../../../broker/peer-address.js';
import { type Intake, PASSING_REFUSALS, type Source, type SourceStatus } from '../../contract.js';
import type { SourceDeps } from '../kind.js';
import { topicRenderer } from '../topic-template.js';
import { StreamConnection, type ConnectionHost } from './connection.js';
import { bindUdp, closeServer, listenTcp, listenTls, type StreamHandlers } from './listeners.js';
import { syslogMessage, topicVars, type Sender } from './message.js';
import { SyslogCounts, syslogMetrics, type DropReason, type Transport } from './metrics.js';
import { cidr, type SyslogSourceOptions } from './options.js';
import { parseSyslog, type SyslogFormat } from './parse.js';
import type { RelpOutcome } from './relp-session.js';
import { relpTlsLine } from './relp-tls.js';
import { UdpDropWatch } from './udp-drops.js';

const RETRY_MS = 1000;
const LOG_EVERY_MS = 60_000;

export class SyslogSource implements Source {
  readonly kind = 'syslog';
  readonly name: string;
  private state = 'stopped';
  private intake: Intake | undefined;
  private udp: UdpSocket | undefined;
  /** The kernel's drop count of the UDP socket, and its receive buffer (as the kernel reports it: twice what it granted). */
  private udpDrops: UdpDropWatch | undefined;
  private udpReceiveBuffer: number | undefined;
  private tcp: Server | undefined;
  /** The relp listener: plain TCP, or TLS (relp.tls). */
  private relp: Server | undefined;
  private tls: TlsServer | undefined;
  /** The certificates the tls listener and a relp listener over TLS serve. */
  private servedTls: ServedTls[] = [];
  private readonly addresses: Partial<Record<Transport, string>> = {};
  private readonly connections = new Set<StreamConnection>();
  /** Every socket admitted, also a TLS one still in its handshake (closed at stop: the server's close waits for them). */
  private readonly sockets = new Set<Socket>();
  private readonly pending = new Set<Promise<void>>();
  private inFlight = 0;
  /** Monotonic time until which streams stay paused (the store refused a commit). */
  private holdUntil = 0;
  private resumeTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private stops = 0;
  private starting: Promise<void> | undefined;
  private lastError: string | undefined;
  private readonly allow: BlockList | undefined;
  private readonly counts: SyslogCounts;
  private readonly render: (vars: Readonly<Record<string, string>>) => string;
  private readonly log: RateLog;
  private readonly clocks: ReturnType<typeof clocksOf>;
  /** What its connections use of the source (connection.ts). */
  private readonly host: ConnectionHost;

  constructor(
    private readonly options: SyslogSourceOptions,
    private readonly deps: SourceDeps,
  ) {
    this.name = options.name;
    this.counts = new SyslogCounts(syslogMetrics(deps.registry), options.name);
    this.clocks = clocksOf(deps);
    this.log = rateLimitedLog(deps.logger, 'warn', LOG_EVERY_MS, this.clocks.monotonic);
    this.render = topicRenderer(options.topic);
    if (options.allow.length > 0) {
      const list = new BlockList();
      for (const c of options.allow) {
        const [address, prefix, family] = cidr(c)!;
        list.addSubnet(address, prefix, family);
      }
      this.allow = list;
    }
    this.host = {
      options,
      counts: this.counts,
      log: this.log,
      addresses: this.addresses,
      take: (bytes, size, from, truncated) => this.take(bytes, size, from, truncated),
      held: () => this.held(),
      paused: () => this.scheduleResume(),
      closed: (c) => this.connections.delete(c),
    };
  }

  start(intake: Intake): Promise<void> {
    const run = this.listen(intake, this.stops);
    this.starting = run.catch(() => undefined);
    return run;
  }

  private async listen(intake: Intake, stopsBefore: number): Promise<void> {
    const o = this.options;
    this.stopping = false;
    this.state = 'starting';
    this.intake = intake;
    const handlers: StreamHandlers = {
      admit: (socket, transport) => this.admit(socket, transport),
      accept: (socket, transport) => this.accept(socket, transport),
      dropped: (transport) => {
        this.counts.connection(transport, 'dropped');
        this.log('dropped', { maxConnections: o.maxConnections }, 'syslog source: maxConnections connections open, a new one was closed');
      },
      tlsFailed: (err, ip, transport) => {
        this.counts.connection(transport, 'tls-failed');
        if (transport === 'relp') {
          const [key, line] = relpTlsLine(err, this.options.relp?.tls?.ca !== undefined);
          return this.log(key, { ip, err: errorMessage(err), relp: this.addresses.relp }, line);
        }
        this.log(
          'tls-failed',
          { ip, err: errorMessage(err), tls: this.addresses.tls, tcp: this.addresses.tcp ?? 'none' },
          'syslog source: a TLS handshake failed: a sender speaking plain TCP to the tls port (send it to the tcp port, or set it to TLS), or one refusing the certificate (its CA, its name)',
        );
      },
    };
    try {
      if (o.udp) {
        const { socket, port, receiveBuffer, capped } = await bindUdp(o.name, o.udp);
        this.udp = socket;
        socket.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
        socket.on('error', (err) => this.log('udp-error', { err: errorMessage(err) }, 'syslog source: UDP socket error'));
        this.addresses.udp = `${urlHost(o.udp.host)}:${port}`;
        this.udpReceiveBuffer = receiveBuffer;
        if (capped)
          this.deps.logger.warn(
            { asked: o.udp.receiveBufferBytes, granted: receiveBuffer === undefined ? undefined : receiveBuffer / 2 },
            `syslog source: the kernel capped udp.receiveBufferBytes at net.core.rmem_max: raise it (sysctl -w net.core.rmem_max=${o.udp.receiveBufferBytes}, and a file in /etc/sysctl.d to keep it)`,
          );
        this.udpDrops = new UdpDropWatch(socket.address().address, port);
        this.counts.beforeScrape(this.readUdpDrops);
      }
      if (o.tcp) {
        const { server, port } = await listenTcp(o, handlers);
        this.tcp = server;
        this.addresses.tcp = `${urlHost(o.tcp.host)}:${port}`;
      }
      const tlsDeps = { logger: this.deps.logger, registry: this.deps.registry, now: this.clocks.now };
      if (o.relp && !o.relp.tls) {
        const { server, port } = await listenTcp(o, handlers, 'relp');
        this.relp = server;
        this.addresses.relp = `${urlHost(o.relp.host)}:${port}`;
      }
      if (o.relp?.tls) {
        const { server, port, servedTls } = await listenTls(o, handlers, tlsDeps, 'relp');
        this.relp = server;
        this.servedTls.push(servedTls);
        this.addresses.relp = `${urlHost(o.relp.host)}:${port}`;
        servedTls.start();
      }
      if (o.tls) {
        const { server, port, servedTls } = await listenTls(o, handlers, tlsDeps);
        this.tls = server;
        this.servedTls.push(servedTls);
        this.addresses.tls = `${urlHost(o.tls.host)}:${port}`;
        servedTls.start();
      }
    } catch (err) {
      this.state = 'failed';
      this.lastError = errorMessage(err);
      await this.closeListeners();
      this.intake = undefined;
      throw err;
    }
    if (this.stops !== stopsBefore) return; // the stop, waiting for this start, closes them
    this.state = 'running';
    this.deps.logger.info({ ...this.addresses, allow: o.allow.length || 'any' }, 'syslog source listening');
  }

  async stop(): Promise<void> {
    this.stops++;
    this.stopping = true;
    await this.starting;
    const o = this.options;
    const closing = this.closeListeners();
    // Said to every sender (FIN) and read on for a while: rsyslog sees it before its next send and queues.
    for (const c of this.connections) c.close();
    await this.within(
      o.stopDrainMs,
      () => this.connections.size === 0,
      Promise.all([...this.connections].map((c) => new Promise((r) => c.socket.once('close', r)))),
    );
    for (const c of this.connections) c.socket.destroy();
    for (const socket of this.sockets) socket.destroy();
    await closing;
    const drained = await this.within(o.stopDrainMs, () => this.pending.size === 0, Promise.allSettled([...this.pending]));
    if (!drained) this.deps.logger.warn({ pending: this.pending.size }, 'syslog source stopped with messages still waiting for their commits');
    clearTimeout(this.resumeTimer);
    this.intake = undefined;
    if (this.state !== 'failed') this.state = 'stopped';
  }

  private async within(ms: number, done: () => boolean, all: Promise<unknown>): Promise<boolean> {
    if (done()) return true;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([all.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    return ok;
  }

  private async closeListeners(): Promise<void> {
    this.readUdpDrops(); // the last count of this socket, before the kernel forgets it
    this.counts.beforeScrape(this.readUdpDrops, false);
    this.udpDrops = undefined;
    this.udp?.close();
    this.udp = undefined;
    const servers = [this.tcp, this.relp, this.tls].filter((s): s is Server => s !== undefined);
    for (const s of this.servedTls) s.stop();
    this.servedTls = [];
    this.tcp = undefined;
    this.relp = undefined;
    this.tls = undefined;
    await Promise.all(servers.map(closeServer));
  }

  async reloadTls(): Promise<TlsReloadOutcome[]> {
    const out: TlsReloadOutcome[] = [];
    for (const s of this.servedTls) out.push(...(await s.reload()));
    return out;
  }

  servedCertificates(): CertExpiryEntry[] {
    return this.servedTls.flatMap((s) => s.expiryEntries());
  }

  /** Datagrams the kernel dropped since the last read (its receive buffer full), counted (udp-drops.ts). */
  private readonly readUdpDrops = (): void => this.counts.drop('receive-buffer', this.udpDrops?.poll() ?? 0);

  status(): SourceStatus {
    this.readUdpDrops();
    const c = this.counts;
    return {
      kind: this.kind,
      name: this.name,
      state: this.state,
      details: {
        listening: { ...this.addresses },
        ...(this.udpReceiveBuffer !== undefined ? { udpReceiveBufferBytes: this.udpReceiveBuffer / 2 } : {}),
        allow: this.options.allow,
        connections: this.connections.size,
        inFlight: this.inFlight,
        messages: c.committed,
        bytes: c.bytes,
        formats: { ...c.formats },
        parseFailures: c.formats.unknown,
        truncated: c.truncated,
        invalidUtf8: c.invalidUtf8,
        dropped: { ...c.dropped },
        connectionOutcomes: { ...c.connections },
        commitRetries: c.retries,
        // why TCP and TLS are not read now (their senders queue): a state line would say running
        ...(this.clocks.monotonic() < this.holdUntil
          ? { paused: 'store-refusing' }
          : this.inFlight >= this.options.maxInFlight
            ? { paused: 'max-in-flight' }
            : {}),
        ...(this.lastError ? { lastError: this.lastError } : {}),
      },
    };
  }

  private allowed(address: string | undefined): boolean {
    if (!this.allow) return true;
    if (!address) return false;
    return this.allow.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }

  /** Streams stop reading while this holds: too many commits waiting, or the store refusing. */
  private held(): boolean {
    return this.inFlight >= this.options.maxInFlight || this.clocks.monotonic() < this.holdUntil;
  }

  private datagram(msg: Buffer, rinfo: RemoteInfo): void {
    const address = plainAddress(rinfo.address) ?? rinfo.address;
    if (!this.allowed(address)) return this.counts.drop('denied');
    const sender: Sender = { address, port: rinfo.port, transport: 'udp' };
    const truncated = msg.length > this.options.maxMessageBytes;
    const bytes = truncated ? msg.subarray(0, this.options.maxMessageBytes) : msg;
    if (this.stopping || this.held() || !this.intake?.accepting()) {
      this.log('busy', { inFlight: this.inFlight }, 'syslog source: a datagram came while the intake was full: dropped (UDP has no acknowledgement)');
      return this.counts.drop('busy');
    }
    this.take(bytes, msg.length, sender, truncated);
  }

  private admit(socket: Socket, transport: Transport): boolean {
    if (!this.stopping && this.allowed(peerAddress(socket))) {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      return true;
    }
    this.counts.connection(transport, 'denied');
    socket.destroy();
    return false;
  }

  private accept(socket: Socket, transport: Transport): void {
    if (this.stopping) return void socket.destroy();
    this.connections.add(new StreamConnection(socket, transport, this.host));
  }

  private scheduleResume(): void {
    if (this.resumeTimer || this.holdUntil <= this.clocks.monotonic()) return;
    this.resumeTimer = setTimeout(
      () => {
        this.resumeTimer = undefined;
        this.resume();
      },
      Math.max(1, this.holdUntil - this.clocks.monotonic()),
    );
  }

  private resume(): void {
    if (this.held()) return this.scheduleResume();
    for (const c of this.connections) c.resume(this.stopping);
  }

  /** Parse and submit one message; settles with what became of it (a RELP session answers by it). */
  private take(bytes: Buffer, size: number, from: Sender, truncated: boolean): Promise<RelpOutcome> {
    const now = this.clocks.now();
    const { record, invalidUtf8 } = parseSyslog(bytes, new Date(now));
    this.counts.read(record.format, size, truncated, invalidUtf8);
    if (record.format === 'unknown')
      this.log(
        'unknown',
        { ip: from.address, transport: from.transport },
        'syslog source: a message that is neither RFC 5424 nor RFC 3164: kept whole (format unknown)',
      );
    const message = syslogMessage(record, from, this.render(topicVars(record, from, this.name)), this.name, now, truncated);
    const intake = this.intake;
    if (!intake) {
      this.counts.drop('stopped');
      return Promise.resolve({ committed: false });
    }
    this.inFlight++;
    const delivered = this.deliver(intake, message, from.transport, record.format).finally(() => {
      this.inFlight--;
      this.pending.delete(tracked);
      if (!this.held()) this.resume();
    });
    const tracked: Promise<void> = delivered.then(() => undefined);
    this.pending.add(tracked);
    return delivered;
  }

  /** Submit until committed; a stream's message refused for now (store full, closed) is tried again, reading paused meanwhile. */
  private async deliver(intake: Intake, message: Message, transport: Transport, format: SyslogFormat): Promise<RelpOutcome> {
    for (;;) {
      try {
        await intake.submit(message);
        this.counts.commit(transport, format);
        if (this.options.publishLocal) this.deps.publish?.(message.topic, message.payload);
        return { committed: true };
      } catch (err) {
        const e = err instanceof GatehouseError ? err : ERRORS.GH_INTERNAL({ reason: errorMessage(err) });
        this.lastError = e.message;
        const again = transport !== 'udp' && PASSING_REFUSALS.has(e.code);
        if (!again || this.stopping) {
          const reason: DropReason = again ? 'stopped' : 'refused';
          this.log(
            `refused:${e.code}`,
            { err: e.message, transport },
            transport === 'relp'
              ? 'syslog source: a commit was refused: not acknowledged to the RELP sender, which sends it again'
              : 'syslog source: a commit was refused: message dropped (counted)',
          );
          this.counts.drop(reason);
          return again ? { committed: false } : { committed: false, refused: `${e.code}: ${e.message}` };
        }
        this.counts.retry();
        this.log(`retry:${e.code}`, { err: e.message }, 'syslog source: the store refused a commit: streams paused, tried again every second');
        this.holdUntil = this.clocks.monotonic() + RETRY_MS;
        for (const c of this.connections) c.pause();
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
