// Contract of the pipeline's two doors: the intake every source hands messages to, and the
// Source interface every source implements. Sources depend on this file and core/ only.
//
// Invariants:
// - One intake. Every source (MQTT broker, serial links, Modbus/OPC UA pollers, file tailers,
//   control, rule republish) calls `intake.submit(message)`, and acknowledges its device (PUBACK,
//   serial ACK, committed file offset, a poll cycle counted as read) only when the returned promise
//   resolves. `undefined` means nothing durable derived from the message: acknowledge at once.
// - A rejected promise is never an acknowledgement: the source refuses (no PUBACK / negative
//   PUBACK, no serial ACK, the file offset does not move) and the device or the source retries.
// - `commitMeta` writes a small key/value in the same group commit as every append submitted
//   before it whose commit is not yet written (or in a later one, never an earlier one), so a
//   source's own position (a file offset) is durable together with the records read before it.
//   A source awaits the submits of a chunk only when it must know they were committed.
// - Backpressure: while the store refuses or delays appends (a full `reject` stream, the pending
//   batch over its byte bound, a full disk) the promises stay pending or reject; a source must not
//   keep reading without bound while its submits are pending (await them, or cap what is in flight).
// - A source's `start()` resolves once it is accepting (or retrying in the background: an
//   unreachable device is a state, not a start failure); `stop()` stops reading, then resolves
//   once every submit it made has settled or been abandoned, and is idempotent.
import type { Message, MetaValue } from '../../core/message.js';
import type { CertExpiryEntry } from '../../core/cert-expiry.js';

/**
 * Codes of a submit's refusal that pass by themselves (a full disk, a full `reject` stream, the
 * store closing for a restart): a source that can keep its sender waiting tries again (syslog over
 * TCP and RELP) or tells it to (the http source's 503 with Retry-After); any other is final.
 */
export const PASSING_REFUSALS: ReadonlySet<string> = new Set(['GH_STORE_DISK_FULL', 'GH_STREAM_FULL', 'GH_STORE_CLOSED']);

export interface Intake {
  /** Run the rules on a message; resolves once everything durable it derived is committed. */
  submit(message: Message): Promise<void> | undefined;
  /**
   * Durably write `value` under the source's own key in the next group commit (after every
   * append already submitted). Keys are namespaced per source by the intake. A function value is
   * made when that commit is cut (core/message.ts MetaValue).
   */
  commitMeta(key: string, value: MetaValue): Promise<void>;
  /** Read back what commitMeta wrote (at start, to resume). */
  readMeta(key: string): Promise<Buffer | undefined>;
  /**
   * Every key of the source's starting with `prefix` and its value, in key order (keys written by
   * a put of several keys: MetaEntries). Optional: an intake without it holds no such keys.
   */
  readMetas?(prefix: string): Promise<Array<[key: string, value: Buffer]>>;
  /** False while the store cannot take writes (disk full, closed): sources may pause reading. */
  accepting(): boolean;
}

/** What `/api/sources`, the status page and /metrics show per source instance. */
/**
 * States in which a source is up (gatehouse_source_up 1; green on the status page): 'running', and
 * 'connected' of a source whose link is a connection it keeps (the MQTT source).
 */
export const SOURCE_UP_STATES: ReadonlySet<string> = new Set(['running', 'connected']);

export interface SourceStatus {
  /** Source kind, e.g. 'mqtt', 'serial', 'modbus', 'opcua', 'file'. */
  kind: string;
  /** Instance name from the config. */
  name: string;
  /** 'running' | 'connecting' | 'retrying' | 'stopped' | 'failed', or a kind-specific state (SOURCE_UP_STATES). */
  state: string;
  /** Free-form, JSON-serialisable details (devices, files, last error, counters...). */
  details?: Record<string, unknown>;
  /** A source every gateway has (the embedded broker, serial links, control, republish), not a `sources:` entry. */
  builtIn?: true;
}

export interface Source {
  readonly kind: string;
  readonly name: string;
  /** Start reading. A stop() while it runs wins: it then resolves with nothing left reading, and the state not up. */
  start(intake: Intake): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
  /** Optional: read its TLS files again and serve them to new connections when they changed (SIGHUP; the http source). */
  reloadTls?(): Promise<unknown>;
  /** Optional: the certificates it serves (the http source's tls.cert), for /healthz's `certificates` (use 'served'). */
  servedCertificates?(): CertExpiryEntry[];
}
