// A small Intake over a REAL store, for testing a source without the rules engine: every message
// is appended to one stream, and commitMeta is the store's own (the meta joins the group commit of
// the appends submitted before it), as in gateway/pipeline/ingest.ts.
import type { Intake } from '../../gateway/pipeline/contract.js';
import { readMetas } from '../../gateway/pipeline/ingest.js';
import type { Message } from '../../core/message.js';
import type { LocalStreams } from '../../gateway/store/index.js';

export interface StoreIntake extends Intake {
  submitted: number;
  /** Make the next n submits reject (a refused append). */
  failNext(n: number): void;
}

export function storeIntake(store: LocalStreams, stream: string, namespace: string): StoreIntake {
  let failures = 0;
  const intake: StoreIntake = {
    submitted: 0,
    failNext(n) {
      failures = n;
    },
    submit(message: Message) {
      intake.submitted++;
      if (failures > 0) {
        failures--;
        const p = Promise.reject(new Error('test: append refused'));
        return p;
      }
      const attrs: Record<string, string> = {};
      const up = message.properties?.userProperties;
      if (up) for (const [k, v] of Object.entries(up)) attrs[k] = String(v);
      const p = store
        .append(stream, { topic: message.topic, payload: message.payload, receivedAt: message.receivedAt, ...(up ? { attrs } : {}) })
        .then(() => undefined);
      return p;
    },
    commitMeta(key, value) {
      return store.commitMeta(`source/${namespace}/${key}`, value);
    },
    readMeta(key) {
      return store.getMeta(`source/${namespace}/${key}`);
    },
    readMetas(prefix) {
      return readMetas(store, `source/${namespace}/`, prefix);
    },
    accepting: () => true,
  };
  return intake;
}

/** Every record of a stream, in order. */
export async function readAll(store: LocalStreams, stream: string): Promise<Array<{ topic: string; payload: Buffer; attrs?: Record<string, string> }>> {
  const out = [];
  let from = 1;
  for (;;) {
    const batch = await store.read(stream, from, { limit: 5000 });
    if (batch.length === 0) return out;
    out.push(...batch);
    from = batch[batch.length - 1]!.seq + 1;
  }
}
