// A proxy that takes the connection and never answers the CONNECT (hung, or its own upstream
// stuck): every send times out, and each attempt must take its connection to the proxy with it.
// https-proxy-agent waits for the proxy's answer with no bound of its own; a request given up
// (the destination's timeoutMs, the SDK's connectionTimeout) left that connection open, one more
// per retry, for as long as the proxy held it (and, counted among the agent's sockets, they took
// the http destination's maxSockets: no send at all once the proxy answered again).
// The proxy here is a TCP server that accepts and never answers (a mock: no real proxy hangs on
// demand); it counts the connections the gateway keeps open to it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { hungServer, waitUntil } from '../helpers/index.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { countingDeps, reconnectMeter } from '../helpers/reconnect-meter.js';

const ATTEMPTS = Number(process.env.RECONNECTS ?? 12);

/** A "proxy" that accepts and never answers: its URL, the connections open now, and how many it took. */
async function hungProxy(t: TestContext): Promise<{ url: string; open: () => number; taken: () => number }> {
  const s = await hungServer(t);
  return { url: `http://127.0.0.1:${s.port}`, open: s.open, taken: s.taken };
}

const cases: Array<[string, Record<string, unknown>]> = [
  ['http (https:// endpoint, tunnel agent)', { type: 'http', url: 'https://127.0.0.1:9/', timeoutMs: 150 }],
  [
    'kinesis (https:// endpoint, tunnel agent)',
    { type: 'kinesis', streamName: 'k', endpoint: 'https://127.0.0.1:9', accessKeyId: 'x', secretAccessKey: 'y', region: 'us-east-1', requestTimeoutMs: 150 },
  ],
  [
    'mqtt bridge (mqtt://, tunnel stream)',
    { type: 'mqtt', url: 'mqtt://127.0.0.1:9', clientId: 'gw-hung', topics: [{ local: '#' }], connectTimeoutMs: 150, reconnectMinMs: 10, reconnectMaxMs: 20 },
  ],
  [
    'mqtt bridge (ws://, tunnel agent)',
    {
      type: 'mqtt',
      url: 'ws://127.0.0.1:9/mqtt',
      clientId: 'gw-hung',
      topics: [{ local: '#' }],
      connectTimeoutMs: 150,
      reconnectMinMs: 10,
      reconnectMaxMs: 20,
    },
  ],
];

for (const [name, destination] of cases)
  test(`${name} through a proxy that never answers the CONNECT: each given-up attempt closes its connection to the proxy`, { timeout: 120_000 }, async (t) => {
    const proxy = await hungProxy(t);
    const { deps } = countingDeps({ proxy: { url: proxy.url }, env: {} });
    const streams = await openStreams(t);
    await append(streams, 1);
    const meter = reconnectMeter();
    t.after(() => meter.close());
    meter.read(0);
    const exporter = await startExporter(t, streams, destination, deps);
    await waitUntil(() => proxy.taken() >= ATTEMPTS, `${ATTEMPTS} attempts through the proxy`, 60_000, 10);
    const r = meter.read(ATTEMPTS);
    t.diagnostic(`${name}: ${proxy.taken()} connections taken, ${proxy.open()} still open; ${meter.table('hung proxy').join('; ')}`);
    // The one in flight (and its successor, opened as the last closes) may be open: not one per attempt.
    await waitUntil(() => proxy.open() <= 2, 'at most the attempt in flight open', 5000, 10).catch(() => {});
    assert.ok(proxy.open() <= 2, `connections left open to the hung proxy: ${proxy.open()} of ${proxy.taken()}`);
    assert.equal(exporter.status().lastExportedSeq, 0);
    // The tunnel stream bounds the proxy's answer within the connection's connect timeout: the
    // status blames the proxy, not the broker behind it (mqtt.js's "connack timeout").
    if (name.includes('tunnel stream')) {
      const said = JSON.stringify(exporter.status());
      assert.match(said, /GH_UPSTREAM_PROXY/, said);
      assert.match(said, /no answer to the CONNECT within 120 ms/, said);
    }
    assert.ok(r.fds <= meter.readings[0]!.fds + 2 * 2 + 4, `fds ${meter.readings[0]!.fds} -> ${r.fds}`);
  });
