// The exporter's stop() against the loop's own waits, ordered by gates (no sleeps): a stop that
// comes while the loop is reading the store (no send in flight yet) or while start() is still
// connecting. MemoryStreams for the store, a destination double that answers only when aborted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createExporter, type Exporter } from '../../gateway/upstream/exporter.js';
import { parseExporterOptions } from '../../gateway/upstream/options.js';
import type { Destination, RecordResult } from '../../gateway/upstream/types.js';
import type { ReadOptions, StoredRecord } from '../../gateway/store/types.js';
import { MemoryStreams } from '../helpers/memory-streams.js';
import { testDeps, waitUntil, withTimeout } from '../helpers/index.js';

/** A gate: `opened` resolves when something reaches it, `release()` lets it through. */
function gate(): { opened: Promise<void>; reached: () => void; wait: Promise<void>; release: () => void } {
  let reached!: () => void;
  let release!: () => void;
  const opened = new Promise<void>((r) => (reached = r));
  const wait = new Promise<void>((r) => (release = r));
  return { opened, reached, wait, release };
}

/** A destination that never answers a send (a stuck peer) until the send is aborted. */
class StuckDestination implements Destination {
  readonly kind = 'stuck';
  readonly target = 'memory';
  readonly limits = { maxRecords: 500, maxRecordBytes: 1024, maxBatchBytes: 1 << 20 };
  sends = 0;
  started = 0;
  stopped = 0;
  startGate: Promise<void> | undefined;
  async start(): Promise<void> {
    this.started++;
    await this.startGate;
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  /** Ignore the abort signal too (a write to a hung disk, which nothing can interrupt). */
  deaf = false;
  send(_records: readonly StoredRecord[], signal: AbortSignal): Promise<RecordResult[]> {
    this.sends++;
    if (this.deaf) return new Promise(() => undefined);
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  }
}

async function rig(t: import('node:test').TestContext, records = 4) {
  const streams = new MemoryStreams();
  await streams.open();
  await streams.defineStream({ name: 'telemetry', maxBytes: 1 << 30, onFull: 'reject' });
  for (let i = 1; i <= records; i++) await streams.append('telemetry', { topic: 'dev/1', payload: Buffer.from(`{"i":${i}}`), receivedAt: Date.now() });
  const dest = new StuckDestination();
  const options = parseExporterOptions({
    name: 'exp1',
    stream: 'telemetry',
    destination: { type: 'http' },
    batch: { maxRecords: 2, lingerMs: 0 },
    stopTimeoutMs: 100,
  });
  const exporter = createExporter(options, { ...testDeps(), streams, destination: dest });
  t.after(() => exporter.stop());
  return { streams, dest, exporter };
}

/** Hold the loop's reads of stream 'telemetry' at the returned gate. */
function holdReads(streams: MemoryStreams): ReturnType<typeof gate> {
  const read = gate();
  const realRead = streams.read.bind(streams);
  streams.read = async (stream: string, fromSeq: number, options?: ReadOptions): Promise<StoredRecord[]> => {
    if (stream === 'telemetry') {
      read.reached();
      await read.wait;
    }
    return realRead(stream, fromSeq, options);
  };
  return read;
}

/** Start the exporter, call stop() while its read of the store is held, then let the read go; stop() must return. */
async function stopDuringRead(exporter: Exporter, read: ReturnType<typeof gate>): Promise<void> {
  await exporter.start();
  await read.opened;
  const stopped = exporter.stop();
  read.release();
  await withTimeout(stopped, 5000, 'stop() returns');
}

test('stop() while the loop reads the store: no send starts after it, and it returns (a send started then was never aborted: stop() waited on a stuck peer for ever)', async (t) => {
  const { streams, dest, exporter } = await rig(t);
  // Hold the loop's first read of the store until stop() has been called.
  const read = holdReads(streams);
  await stopDuringRead(exporter, read);
  assert.equal(dest.sends, 0, 'no send started once the exporter was stopping');
  assert.equal(exporter.status().state, 'stopped');
  assert.equal(await streams.getCheckpoint('telemetry', 'exp1'), 0);
});

test('stop() while the loop reads the store and finds nothing new: it returns (the loop then waited for new records on a stop signal already given, for ever: a quiet gateway never finished its shutdown)', async (t) => {
  const { streams, exporter } = await rig(t, 0);
  const read = holdReads(streams);
  await stopDuringRead(exporter, read);
  assert.equal(exporter.status().state, 'stopped');
});

test('stop() while start() is still starting the destination: the exporter ends stopped, its destination stopped (it ran on after stop() returned)', async (t) => {
  const { dest, exporter } = await rig(t);
  const started = gate();
  dest.startGate = started.wait;
  const starting = exporter.start();
  const stopping = exporter.stop();
  started.release();
  await withTimeout(Promise.all([starting, stopping]), 5000, 'start() and stop() return');
  assert.equal(exporter.status().state, 'stopped');
  assert.equal(dest.stopped, 1, 'the destination is stopped');
  assert.equal(dest.sends, 0);
});

test('start() called twice at once starts one loop', async (t) => {
  const { dest, exporter } = await rig(t);
  const started = gate();
  dest.startGate = started.wait;
  const both = Promise.all([exporter.start(), exporter.start()]);
  started.release();
  await withTimeout(both, 5000, 'both start() calls return');
  assert.equal(dest.started, 1, 'the destination is started once');
  await exporter.stop();
  assert.equal(dest.stopped, 1);
});

test('stop() with a send to a destination that ignores its abort signal (a write to a hung disk): the send is abandoned after stopTimeoutMs, stop() returns, nothing is checkpointed', async (t) => {
  const { streams, dest, exporter } = await rig(t);
  dest.deaf = true;
  await exporter.start();
  await waitUntil(() => dest.sends > 0, 'a send in flight');
  await withTimeout(exporter.stop(), 5000, 'stop() returns');
  assert.equal(exporter.status().state, 'stopped');
  assert.equal(dest.stopped, 1, 'the destination was stopped');
  assert.equal(await streams.getCheckpoint('telemetry', 'exp1'), 0, 'the abandoned records are resent at the next start');
});
