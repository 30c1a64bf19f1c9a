// What a thousand reconnects leave behind: the NATS JetStream destination (direct: nats.js has no
// proxy support) across a real nats-server stopped and started again under it, each outage said by
// nats.ts's bounded outage log state; one record must go through after each restart. Read at 0,
// N/2 and N: fds, sockets, timers, listeners, the heap after GC. RECONNECTS=N for a longer run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needBinary, waitUntil } from '../helpers/index.js';
import { startNats } from '../helpers/peers.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { countingDeps, reconnectMeter } from '../helpers/reconnect-meter.js';

const N = Number(process.env.RECONNECTS ?? 10);

test('nats: N restarts of nats-server leave fds, sockets, timers and listeners where they were', {
  skip: needBinary('nats-server', 'nats-server'),
  timeout: 900_000,
}, async (t) => {
  const nats = await startNats(t);
  const { deps, counts } = countingDeps({ env: {} });
  const streams = await openStreams(t);
  const exporter = await startExporter(
    t,
    streams,
    { type: 'nats', servers: nats.url, createStream: true, stream: 'GH', reconnectWaitMs: 50, ackTimeoutMs: 2000 },
    deps,
  );
  let seq = 0;
  const through = async (): Promise<void> => {
    await append(streams, 1);
    seq++;
    await waitUntil(() => exporter.status().lastExportedSeq >= seq, `record ${seq} exported`, 60_000, 5);
  };
  await through();
  const meter = reconnectMeter();
  t.after(() => meter.close());
  meter.read(0);
  for (let i = 1; i <= N; i++) {
    await nats.restart();
    await through();
    if (i === N / 2 || i === N) meter.read(i);
  }
  for (const line of meter.table('nats direct')) t.diagnostic(line);
  t.diagnostic(JSON.stringify([...counts]));
  const [r0, , rN] = meter.readings;
  assert.ok(rN!.fds <= r0!.fds + 4, `fds ${r0!.fds} -> ${rN!.fds}`);
  assert.ok(rN!.sockets <= r0!.sockets + 2, `sockets ${r0!.sockets} -> ${rN!.sockets}`);
  assert.ok(rN!.timers <= r0!.timers + 2, `timers ${r0!.timers} -> ${rN!.timers}`);
  assert.ok(rN!.listeners <= r0!.listeners, `listeners ${r0!.listeners} -> ${rN!.listeners}`);
  assert.equal(meter.maxListenerWarnings(), 0);
});
