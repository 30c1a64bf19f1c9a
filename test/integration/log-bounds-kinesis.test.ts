// Kinesis calls refused as a whole, their log bounded: a refusal for the records (a validation
// error) made 'the service rejected a whole call' at every call, one line per batch for as long as
// it lasted; now at most one a minute per error code, the metrics and the dead letters count each.
// A throttled stream (every PutRecords refused with ProvisionedThroughputExceededException) made
// no line per call (measured: 0; the exporter's 'export error' once a minute), and now 'export
// resumed' says when it ends. Real kinesalite behind a small HTTP proxy that answers PutRecords
// with the fault the test sets (kinesalite never refuses a call by itself), as the chaos bench's
// fault proxy does (test/bench/chaos-kinesis-proxy.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { KinesisClient, CreateStreamCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Registry } from 'prom-client';
import { append, openStreams, startExporter } from '../helpers/exporter-rig.js';
import { capturedLogger } from '../helpers/industrial.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { startKinesalite } from '../helpers/peers.js';

const creds = { accessKeyId: 'local', secretAccessKey: 'local-secret' };
type Fault = 'none' | 'throttle' | 'invalid';

/** A proxy to kinesalite answering PutRecords with `fault` (a JSON 1.1 error, HTTP 400) while set; counts the calls it refused. */
async function faultProxy(t: TestContext, target: string): Promise<{ url: string; fault: Fault; refused: number }> {
  const state = { url: '', fault: 'none' as Fault, refused: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (state.fault !== 'none' && String(req.headers['x-amz-target']).endsWith('.PutRecords')) {
        state.refused++;
        const type = state.fault === 'throttle' ? 'ProvisionedThroughputExceededException' : 'ValidationException';
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
        return void res.end(JSON.stringify({ __type: type, message: state.fault === 'throttle' ? 'Rate exceeded for stream gh' : 'records refused' }));
      }
      const up = http.request(target, { method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 500, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

test('Kinesis refusing every call: a throttled stream and a refused one make one line each, not one per call; every refusal counted', async (t) => {
  const peer = await startKinesalite(t);
  const admin = new KinesisClient({ region: 'us-east-1', endpoint: peer.url, credentials: { ...creds }, requestHandler: new NodeHttpHandler() });
  t.after(() => admin.destroy());
  await admin.send(new CreateStreamCommand({ StreamName: 'gh', ShardCount: 1 }));
  const proxy = await faultProxy(t, peer.url);
  const { logger, lines } = capturedLogger('info');
  const registry = new Registry();
  const clock = { t: 1_000_000 };
  const streams = await openStreams(t);
  proxy.fault = 'throttle';
  await append(streams, 5);
  const exporter = await startExporter(
    t,
    streams,
    { type: 'kinesis', streamName: 'gh', region: 'us-east-1', endpoint: proxy.url, ...creds, sdkMaxAttempts: 1, proxy: false },
    { logger, registry, monotonic: () => clock.t },
  );
  const named = (msg: RegExp): Record<string, unknown>[] => lines.filter((l) => msg.test(l.msg)) as unknown as Record<string, unknown>[];
  await waitUntil(() => proxy.refused >= 10, 'ten throttled calls', 20_000);
  assert.equal(named(/rejected a whole call/).length, 0, 'throttling is no refusal of the records');
  assert.equal(named(/^export error$/).length, 1, `one export error for ${proxy.refused} throttled calls`);
  clock.t += 61_000;
  proxy.fault = 'none';
  await waitUntil(async () => (await streams.getCheckpoint('up', 'cloud')) === 5, 'the five records delivered', 20_000);
  const resumed = named(/^export resumed$/);
  assert.equal(resumed.length, 1);
  assert.ok(Number(resumed[0]!.failedSends) >= 10 && Number(resumed[0]!.downMs) >= 61_000, JSON.stringify(resumed[0]));

  // Refused for the records: each call's records are dead-lettered; one line for all the calls.
  proxy.fault = 'invalid';
  const before = proxy.refused;
  for (let i = 0; i < 8; i++) await append(streams, 1);
  await waitUntil(() => exporter.status().deadLetters === 8, 'the eight records dead-lettered', 20_000);
  const refusedCalls = proxy.refused - before;
  assert.ok(refusedCalls >= 2, `${refusedCalls} calls refused`);
  assert.equal(named(/Kinesis PutRecords: the service rejected a whole call/).length, 1, `one line for ${refusedCalls} refused calls`);
  assert.equal(await metricValue(registry, 'gatehouse_destination_calls_total', { outcome: 'permanent' }), refusedCalls, 'each refused call counted');
});
