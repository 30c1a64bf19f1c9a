// Per-connection state of the broker, and the packet-size cap put on each connection's parser.
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Client } from 'aedes';
import type { Message, MessageSource } from '../../core/message.js';
import { OPEN_ACL, type ClientAcl } from './acl.js';
import type { BrokerStats } from './metrics.js';
import type { RateLog } from '../../core/rate-log.js';
import type { PublishBucket, PublishRateLimits } from './rate-limit.js';

/** A client publish beyond maxInflight, waiting for a slot (FIFO keeps per-client order). */
export interface Waiting {
  msg: Message;
  cb: (err?: Error | null) => void;
  /** The will of the closed connection: committed after what the client sent before it. */
  will?: true;
}

/**
 * The SHA-256 (hex) of the certificate a client presented and the listener verified (mutual TLS),
 * what AWS IoT's principal() gives for an X.509 client; undefined on plain TCP or without one.
 */
export function certThumbprint(socket: Socket): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return undefined;
  const raw = tls.getPeerCertificate().raw;
  return raw && raw.length > 0 ? createHash('sha256').update(raw).digest('hex') : undefined;
}

/** Per-connection state, created when the socket is handed to aedes. */
export class ConnState {
  user: string | undefined = undefined;
  /** The verified client certificate's SHA-256 (mutual TLS): principal() when there is no user name. */
  certThumbprint: string | undefined = undefined;
  authorized = false;
  closed = false;
  emptyIdPersistent = false;
  /** MQTT 3.1.1: its will's topic was this many bytes, over maxTopicLength (refused in authenticate). */
  willTopicTooLong: number | undefined = undefined;
  connectedAt = 0;
  acl: ClientAcl = OPEN_ACL;
  filterDeliveries = false;
  /** The topic filters this client holds (maxSubscriptionsPerClient), made at its first SUBSCRIBE. */
  subscribed: Set<string> | undefined = undefined;
  source: MessageSource;
  inflight = 0;
  waiting: Waiting[] = [];
  /** Settle handlers of this connection's QoS 0 commits (made once, not per message). */
  qos0Done: (() => void) | undefined = undefined;
  qos0Failed: ((err: unknown) => void) | undefined = undefined;
  /** Publish rate limits of this client (rate-limit.ts; set when it is accepted), none: undefined. */
  rateLimits: PublishRateLimits | undefined = undefined;
  /** Its budget, made at its first publish when a limit is set. */
  bucket: PublishBucket | undefined = undefined;
  /** Set while publishes wait for the budget: it sends them on when tokens return. */
  rateTimer: NodeJS.Timeout | undefined = undefined;
  ratePump: (() => void) | undefined = undefined;
  /** Monotonic ms since the wait for the budget was last added to throttledMs; -1: no publish waits for it. */
  throttledSince = -1;
  /** Times this connection's publishes waited for the budget, and for how long in all (ms). */
  throttles = 0;
  throttledMs = 0;
  lastThrottleLog = -Infinity;
  /** Restarts the keep alive timer: a client whose publishes are held is alive though its socket is not read. */
  refreshKeepalive: (() => void) | undefined = undefined;
  constructor(
    readonly client: Client,
    readonly listener: string,
    readonly ip: string | undefined,
  ) {
    this.source = { kind: 'mqtt', id: '' };
  }
}

/** A client's protocol error (the connection is closed), logged at a bounded rate: what, who, from where. */
export function logProtocolError(rateLog: RateLog, ip: string | undefined, client: string | undefined, err: string): void {
  rateLog('protocol-error', { ip, client: client || undefined, err }, 'MQTT protocol error: closing the connection');
}

/** A connection closed for a new one with its client id: counted, logged at a bounded rate with both addresses. */
export function noteTakeover(stats: BrokerStats, rateLog: RateLog, clientId: string, ip: string | undefined, previousIp: string | undefined): void {
  stats.takeovers++;
  rateLog(
    'takeover',
    { client: clientId, ip, previousIp, takeovers: stats.takeovers },
    'client id taken over: the previous connection with this id is closed (two devices sharing an id take each other over in turn)',
  );
}

/** aedes internals we rely on (not in its typings): the per-client packet parser and the client table. */
interface ParserInternals {
  packet: { length: number; cmd?: string };
  _list: { length: number; readUInt16BE(offset: number): number; toString(enc: 'utf8', start: number, end: number): string };
  _parseLength(): boolean;
  _emitError(err: Error): void;
  on(event: 'error', fn: (err: Error) => void): void;
}
export type ClientInternals = Client & { _parser: ParserInternals };

/** An oversized packet refused at its length prefix; the topic when the first bytes held it. */
export interface OversizeInfo {
  bytes: number;
  topic: string | undefined;
}

/** The PUBLISH topic at the start of the buffered variable header, if it has arrived yet. */
function peekTopic(p: ParserInternals): string | undefined {
  if (p.packet.cmd !== 'publish' || p._list.length < 2) return undefined;
  const len = p._list.readUInt16BE(0);
  if (p._list.length < 2 + len) return undefined;
  return p._list.toString('utf8', 2, 2 + len);
}

/**
 * aedes gives the parser no size limit: refuse an oversized packet as soon as its length prefix
 * is read, before buffering it. Parser errors other than that count as protocol errors.
 */
export function capPacketLength(
  client: ClientInternals,
  maxPacketBytes: number,
  stats: BrokerStats,
  onOversize?: (info: OversizeInfo) => void,
  onProtocolError?: (err: Error) => void,
): void {
  const parser = client._parser;
  const parseLength = parser._parseLength;
  parser._parseLength = function parseLengthCapped(this: ParserInternals): boolean {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > maxPacketBytes) {
      stats.payloadTooLarge++;
      onOversize?.({ bytes: this.packet.length, topic: peekTopic(this) });
      this._emitError(Object.assign(new Error(`packet of ${this.packet.length} bytes exceeds the broker limit`), { tooLarge: true }));
      return false;
    }
    return ok;
  };
  parser.on('error', (err: Error & { tooLarge?: boolean; strict?: boolean }) => {
    if (err.tooLarge) return;
    stats.protocolErrors++;
    // strict-string violations have their own log line (strict.ts)
    if (!err.strict) onProtocolError?.(err);
  });
}
