// What a thousand reconnects leave behind: the HTTP destinations' keep-alive agents, through the
// site's proxy (http-proxy-agent's absolute-form requests for http://, https-proxy-agent's CONNECT
// tunnel for https://) and direct. Each kick cuts every connection the gateway holds: through the
// proxy a real tinyproxy killed and started again, direct an in-process relay that destroys its
// sockets (the endpoint closing its keep-alive connections); then one record must go through on a
// new connection. The http destination to a Firehose HTTP receiver (http:// and https:// through
// a TLS front), kinesis to kinesalite. Read at 0, N/2 and N: fds, sockets, timers, listeners, the
// heap after GC (test/helpers/reconnect-meter.ts). RECONNECTS=N for a longer run.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { waitUntil } from '../helpers/index.js';
import { startKinesalite } from '../helpers/peers.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { kinesisSink } from '../helpers/upstream-e2e.js';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { startTinyproxy, tinyproxySkip } from '../helpers/tinyproxy.js';
import { tlsFront } from '../helpers/tls-front.js';
import { countingDeps, reconnectMeter } from '../helpers/reconnect-meter.js';
import type { ProxySettings } from '../../gateway/upstream/proxy.js';

const N = Number(process.env.RECONNECTS ?? 10);
/** The direct connections, a baseline for the bench (RECONNECTS set): not registered in CI (no skip: nothing is missing). */
const VIAS: ReadonlyArray<'proxy' | 'direct'> = process.env.RECONNECTS === undefined ? ['proxy'] : ['proxy', 'direct'];
const creds = { accessKeyId: 'x', secretAccessKey: 'y', region: 'us-east-1' };

/** A TCP relay to `port` that cut() closes every connection of (the endpoint dropping its keep-alive sockets). */
async function relay(t: TestContext, port: number): Promise<{ port: number; cut: () => void }> {
  const open = new Set<Socket>();
  const server = createServer((s) => {
    const back = connect(port, '127.0.0.1');
    open.add(s);
    s.once('close', () => {
      open.delete(s);
      back.destroy();
    });
    back.once('close', () => s.destroy());
    s.on('error', () => s.destroy());
    back.on('error', () => back.destroy());
    s.pipe(back).pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      for (const s of open) s.destroy();
    },
  };
}

type Kind = 'http' | 'https' | 'kinesis';

async function run(t: TestContext, kind: Kind, via: 'proxy' | 'direct') {
  const proxy = await startTinyproxy(t);
  let endpointPort: number;
  if (kind === 'kinesis') {
    const kin = await startKinesalite(t);
    await kinesisSink(t, kin.url, 'k', 1);
    endpointPort = kin.port;
  } else {
    const rx = await startFirehoseReceiver({ recordRequests: false });
    t.after(() => rx.close());
    endpointPort = rx.port;
  }
  const cutter = via === 'direct' ? await relay(t, endpointPort) : undefined;
  const port = cutter?.port ?? endpointPort;
  const front = kind === 'https' ? await tlsFront(t, { port }) : undefined;
  const network: ProxySettings = via === 'proxy' ? { proxy: { url: proxy.url }, env: {} } : { env: {} };
  const { deps } = countingDeps(network);
  const streams = await openStreams(t);
  const destination =
    kind === 'kinesis'
      ? { type: 'kinesis', streamName: 'k', endpoint: `http://127.0.0.1:${port}`, ...creds }
      : front
        ? { type: 'http', url: front.url, caFile: front.ca, timeoutMs: 5000 }
        : { type: 'http', url: `http://127.0.0.1:${port}/`, timeoutMs: 5000 };
  const exporter = await startExporter(t, streams, destination, deps);
  let seq = 0;
  const through = async (): Promise<void> => {
    await append(streams, 1);
    seq++;
    await waitUntil(() => exporter.status().lastExportedSeq >= seq, `record ${seq} exported`, 30_000, 5);
  };
  await through();
  const meter = reconnectMeter();
  t.after(() => meter.close());
  meter.read(0);
  for (let i = 1; i <= N; i++) {
    if (cutter) cutter.cut();
    else {
      await proxy.down();
      await proxy.up();
    }
    await through();
    if (i === N / 2 || i === N) meter.read(i);
  }
  for (const line of meter.table(`${kind} ${via}`)) t.diagnostic(line);
  return meter;
}

for (const kind of ['http', 'https', 'kinesis'] as const)
  for (const via of VIAS)
    test(`${kind} ${via}: N connections cut under the keep-alive agent leave fds, sockets and listeners where they were`, {
      skip: tinyproxySkip,
      timeout: 600_000,
    }, async (t) => {
      const meter = await run(t, kind, via);
      const [r0, , rN] = meter.readings;
      assert.ok(rN!.fds <= r0!.fds + 4, `fds ${r0!.fds} -> ${rN!.fds}`);
      assert.ok(rN!.sockets <= r0!.sockets + 4, `sockets ${r0!.sockets} -> ${rN!.sockets}`);
      assert.ok(rN!.listeners <= r0!.listeners, `listeners ${r0!.listeners} -> ${rN!.listeners}`);
      assert.equal(meter.maxListenerWarnings(), 0);
    });
