// How an exporter's dead letter is written (outcomes.ts decides which records are dead-lettered,
// and flushes them before the checkpoint passes them): to the deps' deadLetter sink when one is
// given, else appended to the exporter's dead-letter stream, the record as it was (topic, payload,
// receivedAt, key, attributes) with attributes saying why (error, sourceStream, sourceSeq,
// destination, attempts). Durable when it resolves; a failure is thrown, and the record stays
// pending (the checkpoint stops before it). Logged at once, then once a minute with the count.
import type { RateLog } from '../../core/rate-log.js';
import type { LocalStreams, StoredRecord } from '../store/types.js';
import type { Entry } from './batcher.js';
import type { Destination } from './types.js';

export interface DeadLetterDeps {
  /** The exporter's name, for the log. */
  name: string;
  streams: LocalStreams;
  dest: Destination;
  dlqName: string;
  /** The exporter's deps: deadLetter, when set, replaces the default dead-letter stream append
   * (called as their method). */
  sink: { deadLetter?: (rec: StoredRecord, error: string) => Promise<void> };
  /** The exporter's rate-limited log: a destination refusing every record would log a line per record. */
  rateLog: RateLog;
}

/** Write entry `e`'s record as a dead letter with `error`. */
export async function appendDeadLetter(e: Entry, error: string, d: DeadLetterDeps): Promise<void> {
  const rec = e.rec;
  const { dest } = d;
  // At once, then once a minute with how many were suppressed: the status, the metrics and the
  // dead-letter stream (each record with its error) have every one.
  d.rateLog('dead-lettered', { exporter: d.name, stream: rec.stream, seq: rec.seq, attempts: e.attempts, error }, 'record dead-lettered');
  const sink = d.sink;
  if (sink.deadLetter) {
    await sink.deadLetter(rec, error);
    return;
  }
  const attrs: Record<string, string> = {
    ...rec.attrs,
    error,
    sourceStream: rec.stream,
    sourceSeq: String(rec.seq),
    destination: `${dest.kind}:${dest.target}`,
    attempts: String(e.attempts),
  };
  const dl = { topic: rec.topic, payload: rec.payload, receivedAt: rec.receivedAt, attrs };
  await d.streams.append(d.dlqName, rec.key === undefined ? dl : { ...dl, key: rec.key });
}
