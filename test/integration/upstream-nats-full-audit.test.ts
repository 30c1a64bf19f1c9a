// NATS destination into a JetStream stream at its limits (max_msgs, discard: new) on a real
// nats-server: JetStream refuses each publish with a 503 whose API error says 'maximum messages
// exceeded'. The destination read every 503 as 'no JetStream stream captures this subject' (the
// wrong fix), and as a record-level failure: the records refused in a send where others fitted
// were counted against maxAttempts (a stream whose consumers free room now and then could get
// them dead-lettered), though none was at fault. Now the error says
// the stream is full and what to change, nothing is counted (like throttling), and everything is
// delivered once there is room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, DiscardPolicy } from 'nats';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';

const skip = needBinary('nats-server', 'nats-server');

test('nats: a full stream (discard: new) holds the records with a last error saying so; delivered once there is room', { skip, timeout: 60_000 }, async (t) => {
  const peer = await startNats(t);
  const nc = await connect({ servers: peer.url });
  t.after(() => nc.close());
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'UP', subjects: ['up.>'], max_msgs: 2, discard: DiscardPolicy.New });

  const streams = await openStreams(t);
  const exporter = await startExporter(t, streams, { type: 'nats', servers: peer.url, stream: 'UP', subject: 'up.${stream}' }, undefined, {
    batch: { maxRecords: 5, lingerMs: 10 },
    backoff: { initialMs: 20, maxMs: 200, outageMaxMs: 100 },
    maxAttempts: 2,
  });
  await append(streams, 6);
  await waitUntil(() => exporter.status().retries >= 12 || exporter.status().deadLetters > 0, 'several refused sends', 20_000);
  const st = exporter.status();
  assert.equal(st.deadLetters, 0, `nothing dead-lettered (last error: ${st.lastError?.message})`);
  assert.equal(st.lastExportedSeq, 2, 'the two that fitted');
  assert.match(st.lastError?.message ?? '', /JetStream refused the record: maximum messages exceeded .*raise its max_msgs\/max_bytes/);

  // Room again: everything goes out.
  await jsm.streams.update('UP', { max_msgs: 100 });
  await waitUntil(() => exporter.status().lastExportedSeq === 6, 'all 6 delivered', 20_000);
  assert.equal((await jsm.streams.info('UP')).state.messages, 6);
});
