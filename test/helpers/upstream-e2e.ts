// End-to-end harness for the upstream destinations: the real gateway CLI in a child process
// (kill -9 able), real mqtt.js publishers, and a "sink" per destination that reads back what the
// real peer stored. Records are JSON `{"d":"dev2","i":17,"pad":"..."}` published on
// `dev/<d>/data`; a rule appends them to the local stream `up` with key `${topic(2)}` (the device),
// and one exporter sends `up` to the destination under test. Per device, `i` counts 0, 1, 2, ...
// in publish order, so a sink's arrivals show completeness, duplicates and per-partition order.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { TestContext } from 'node:test';
import mqtt from 'mqtt';
import { connect as natsConnect } from 'nats';
import { KinesisClient, CreateStreamCommand, DescribeStreamCommand, GetShardIteratorCommand, GetRecordsCommand } from '@aws-sdk/client-kinesis';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { tempDir, waitForEvent, waitUntil } from './index.js';
import type { FirehoseReceiver } from './firehose-receiver.js';
import { deaggregate } from '../../gateway/upstream/destinations/kinesis-agg.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './gateway-process.js';

export const STREAM = 'up';
export const EXPORTER = 'e2e';

/** One record as read back from a peer: device and per-device counter (poison records: i = -1). */
export interface Arrival {
  d: string;
  i: number;
  poison?: boolean;
}

/** Reads back everything the peer holds so far, duplicates included, in arrival order. */
export interface Sink {
  read(): Promise<Arrival[]>;
}

export interface E2eOptions {
  /** The exporter's destination block ({ type, ... }). */
  destination: Record<string, unknown>;
  /** Extra exporter options (batch, backoff, bandwidthKbps, maxAttempts...). */
  exporter?: Record<string, unknown>;
  /** Extra rules (besides dev/+/data -> up) as { name, sql, actions }. */
  extraRules?: Array<Record<string, unknown>>;
}

/** Write the gateway config (JSON is valid YAML) and return the file. */
export async function e2eConfig(t: TestContext, o: E2eOptions): Promise<string> {
  const dir = await tempDir(t, 'gatehouse-upe2e-');
  const config = {
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
    streams: { [STREAM]: { maxBytes: 64 * 1024 * 1024, onFull: 'reject' } },
    rules: {
      version: 1,
      rules: [
        { name: 'to_up', sql: "SELECT * FROM 'dev/+/data'", actions: [{ stream: { name: STREAM, partitionKey: '${topic(2)}' } }] },
        ...(o.extraRules ?? []),
      ],
    },
    exporters: [
      {
        name: EXPORTER,
        stream: STREAM,
        destination: o.destination,
        batch: { maxRecords: 25, lingerMs: 20 },
        backoff: { initialMs: 50, maxMs: 500 },
        ...o.exporter,
      },
    ],
  };
  return writeConfig(dir, JSON.stringify(config, null, 2));
}

/** A gateway child process, killed after the test whatever happens. `current()` follows restarts. */
export class GatewayHandle {
  private gw: GatewayProcess | undefined;
  constructor(
    private readonly configFile: string,
    t: TestContext,
  ) {
    t.after(async () => {
      await this.gw?.kill9();
    });
  }
  get current(): GatewayProcess {
    assert.ok(this.gw, 'gateway is running');
    return this.gw;
  }
  async start(): Promise<GatewayProcess> {
    this.gw = await startGatewayProcess(this.configFile, [], 60_000);
    return this.gw;
  }
  async kill9(): Promise<void> {
    await this.gw?.kill9();
    this.gw = undefined;
  }
  async stop(): Promise<number | null> {
    const code = await this.gw?.stop();
    this.gw = undefined;
    return code ?? null;
  }
}

/** Publishes the numbered records; next counter per device survives across calls. */
export class Publisher {
  readonly next = new Map<string, number>();
  readonly acked: Arrival[] = [];
  private count = 0;
  constructor(
    readonly devices = 4,
    readonly padBytes = 150,
  ) {}

  /** Publish n records round-robin over the devices, QoS 1; resolves when every PUBACK arrived. */
  async publish(url: string, n: number, window = 100): Promise<void> {
    const client = await mqtt.connectAsync(url, { clientId: `upe2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0 });
    const pad = 'x'.repeat(this.padBytes);
    try {
      for (let start = 0; start < n; start += window) {
        const sent: Array<Promise<unknown>> = [];
        const recs: Arrival[] = [];
        for (let k = start; k < Math.min(n, start + window); k++) {
          const d = `dev${this.count++ % this.devices}`;
          const i = this.next.get(d) ?? 0;
          this.next.set(d, i + 1);
          recs.push({ d, i });
          sent.push(client.publishAsync(`dev/${d}/data`, JSON.stringify({ d, i, pad }), { qos: 1 }));
        }
        await Promise.all(sent);
        this.acked.push(...recs);
      }
    } finally {
      await client.endAsync(true);
    }
  }

  /** Publish one poison record (marked "poison": true, `bytes` long) on a device topic or `topic`. */
  async poison(url: string, bytes: number, topic = 'dev/dev0/data'): Promise<void> {
    const client = await mqtt.connectAsync(url, { clientId: `upe2e-poison-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0 });
    try {
      const body = JSON.stringify({ d: 'poison', poison: true, pad: '' });
      await client.publishAsync(topic, JSON.stringify({ d: 'poison', poison: true, pad: 'p'.repeat(Math.max(0, bytes - body.length)) }), { qos: 1 });
    } finally {
      await client.endAsync(true);
    }
  }
}

/** Parse a record payload published by Publisher (JSON text, or an already parsed object). */
export function arrivalOf(payload: unknown): Arrival {
  const v = (typeof payload === 'string' ? JSON.parse(payload) : payload) as { d?: unknown; i?: unknown; poison?: unknown };
  if (v.poison === true) return { d: String(v.d), i: -1, poison: true };
  assert.ok(typeof v.d === 'string' && typeof v.i === 'number', `not a test record: ${JSON.stringify(payload).slice(0, 120)}`);
  return { d: v.d, i: v.i };
}

export interface Tally {
  total: number;
  unique: number;
  duplicates: number;
  missing: Arrival[];
  poison: number;
}

/** Compare arrivals with what was acknowledged. */
export function tally(arrivals: readonly Arrival[], acked: readonly Arrival[]): Tally {
  const seen = new Set<string>();
  let duplicates = 0;
  let poison = 0;
  for (const a of arrivals) {
    if (a.poison) {
      poison++;
      continue;
    }
    const k = `${a.d}:${a.i}`;
    if (seen.has(k)) duplicates++;
    else seen.add(k);
  }
  const missing = acked.filter((a) => !seen.has(`${a.d}:${a.i}`));
  return { total: arrivals.length, unique: seen.size, duplicates, missing, poison };
}

/** Wait until every acknowledged record has arrived (duplicates allowed); returns the tally. */
export async function waitAllArrived(sink: Sink, acked: readonly Arrival[], timeoutMs = 45_000): Promise<Tally> {
  let last: Tally | undefined;
  try {
    return await waitUntil(
      async () => {
        last = tally(await sink.read(), acked);
        return last.missing.length === 0 ? last : undefined;
      },
      `all ${acked.length} acknowledged records arrive`,
      timeoutMs,
      200,
    );
  } catch (err) {
    const m = last?.missing ?? [];
    throw new Error(
      `${(err as Error).message}; missing ${m.length}: ${m
        .slice(0, 10)
        .map((a) => `${a.d}:${a.i}`)
        .join(', ')}`,
    );
  }
}

/** Per device, the arrivals are exactly 0, 1, 2, ... n-1 in order (clean run: no duplicates). */
export function assertExactPerPartitionOrder(arrivals: readonly Arrival[], pub: Publisher): void {
  const byDev = new Map<string, number[]>();
  for (const a of arrivals) {
    if (a.poison) continue;
    let l = byDev.get(a.d);
    if (!l) byDev.set(a.d, (l = []));
    l.push(a.i);
  }
  for (const [d, n] of pub.next) {
    assert.deepEqual(
      byDev.get(d),
      Array.from({ length: n }, (_, i) => i),
      `records of ${d} complete, once each, in order`,
    );
  }
}

/**
 * The shared "one bad record" scenario: 150 records, a poison record, 150 more; every acknowledged
 * record arrives exactly once in per-device order and the poison never reaches the destination.
 */
export async function publishAroundPoison(sink: Sink, url: string, pub: Publisher, poisonBytes: number, poisonTopic?: string): Promise<Tally> {
  await pub.publish(url, 150);
  await pub.poison(url, poisonBytes, poisonTopic);
  await pub.publish(url, 150);
  const done = await waitAllArrived(sink, pub.acked);
  assert.equal(done.poison, 0);
  assertExactPerPartitionOrder(await sink.read(), pub);
  return done;
}

/** Per device, first occurrences come in increasing order (what at-least-once can promise). */
export function assertFirstSeenOrder(arrivals: readonly Arrival[]): void {
  const seen = new Set<string>();
  const lastByDev = new Map<string, number>();
  for (const a of arrivals) {
    if (a.poison) continue;
    const k = `${a.d}:${a.i}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const prev = lastByDev.get(a.d) ?? -1;
    assert.ok(a.i > prev, `${a.d}: record ${a.i} first arrived after ${prev}`);
    lastByDev.set(a.d, a.i);
  }
}

interface AdminRecord {
  seq: number;
  topic: string;
  attrs?: Record<string, string>;
  payload?: string;
}

/** Records of a local stream through the admin API (e.g. the dead-letter stream). */
export async function streamRecords(gw: GatewayProcess, stream: string): Promise<AdminRecord[]> {
  const res = await fetch(`${gw.adminUrl}/api/streams/${encodeURIComponent(stream)}/records?from=1&limit=1000`);
  assert.equal(res.status, 200, `GET records of ${stream}`);
  return ((await res.json()) as { records: AdminRecord[] }).records;
}

export interface ExporterStatusJson {
  name: string;
  lastExportedSeq: number;
  deadLetters: number;
  exportedRecords: number;
  backlog: { records: number };
  lastError?: { message: string };
}

/** The exporter's status from GET /api/streams. */
export async function exporterStatus(gw: GatewayProcess): Promise<ExporterStatusJson> {
  const res = await fetch(`${gw.adminUrl}/api/streams`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { streams: Array<{ name: string; lastSeq: number; exporters: ExporterStatusJson[] }> };
  const st = body.streams.find((s) => s.name === STREAM)?.exporters.find((e) => e.name === EXPORTER);
  assert.ok(st, `exporter ${EXPORTER} in /api/streams`);
  return st;
}

/** Wait until the dead-letter stream holds n records; returns them. */
export async function waitDeadLetters(gw: GatewayProcess, n: number, timeoutMs = 20_000): Promise<AdminRecord[]> {
  return waitUntil(
    async () => {
      const recs = await streamRecords(gw, `${STREAM}-dlq`);
      return recs.length >= n ? recs : undefined;
    },
    `${n} dead letters in ${STREAM}-dlq`,
    timeoutMs,
    200,
  );
}

export interface OutageReport {
  arrivedBeforeKill: number;
  tally: Tally;
}

/**
 * Scenarios 2 and 3 in one run (the exporter must be slowed, e.g. bandwidthKbps, so that the
 * kill lands mid-export): publish, stop the peer mid-stream, publish more while it is down, bring
 * it back, kill -9 the gateway while it drains the backlog, restart it, and wait until every
 * acknowledged record arrived. Returns the figures for the test output.
 */
export async function outageAndKill9(
  t: TestContext,
  gw: GatewayHandle,
  peer: { down(): Promise<void>; up(): Promise<void> },
  sink: Sink,
  pub: Publisher,
  perPhase = 300,
): Promise<OutageReport> {
  await pub.publish(gw.current.mqttUrl, perPhase);
  await waitUntil(async () => (await sink.read()).length >= 25, 'first records arrive', 30_000, 100);
  await peer.down();
  await pub.publish(gw.current.mqttUrl, perPhase);
  const exportedBeforeUp = (await exporterStatus(gw.current)).exportedRecords;
  await peer.up();
  // Kill as soon as the backlog drain has visibly resumed (the gateway's own status: cheap to poll,
  // unlike reading some peers back).
  await waitUntil(async () => (await exporterStatus(gw.current)).exportedRecords > exportedBeforeUp, 'export resumes after the outage', 30_000, 20);
  await gw.kill9();
  const atKill = tally(await sink.read(), pub.acked);
  assert.ok(atKill.missing.length > 0, `the kill landed mid-export (${atKill.unique}/${pub.acked.length} delivered): slow the exporter down`);
  await gw.start();
  const final = await waitAllArrived(sink, pub.acked);
  t.diagnostic(
    `acknowledged ${pub.acked.length}, delivered before kill -9: ${atKill.unique}, arrived ${final.total}, unique ${final.unique}, duplicates ${final.duplicates}, missing ${final.missing.length}`,
  );
  const st = await exporterStatus(gw.current);
  assert.equal(st.deadLetters, 0, 'an outage dead-letters nothing');
  assert.deepEqual(await streamRecords(gw.current, `${STREAM}-dlq`), [], 'dead-letter stream empty');
  return { arrivedBeforeKill: atKill.unique, tally: final };
}

// ---- sinks: read back what each real peer holds ----------------------------------------------

/** The Firehose-protocol receiver: accepted records, retries included (as a non-deduplicating endpoint sees them). */
export function receiverSink(rx: FirehoseReceiver): Sink {
  return { read: async () => rx.allRecords().map((b) => arrivalOf(b.toString('utf8'))) };
}

/** kinesalite: create the stream, then read every shard from TRIM_HORIZON, incrementally. */
export async function kinesisSink(
  t: TestContext,
  endpoint: string,
  streamName: string,
  shards = 2,
): Promise<Sink & { client: KinesisClient; raw: Array<{ shard: string; key: string; data: Buffer }> }> {
  const client = new KinesisClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    requestHandler: new NodeHttpHandler({ requestTimeout: 5000 }),
    maxAttempts: 1,
  });
  t.after(() => client.destroy());
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
  const desc = await waitUntil(
    async () => {
      const d = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
      return d.StreamDescription?.StreamStatus === 'ACTIVE' ? d.StreamDescription : undefined;
    },
    `kinesis stream ${streamName} active`,
    10_000,
  );
  const iterators = new Map<string, string | undefined>();
  for (const s of desc.Shards ?? []) {
    const it = await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: s.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    iterators.set(s.ShardId!, it.ShardIterator);
  }
  const raw: Array<{ shard: string; key: string; data: Buffer }> = [];
  // Reads are serialised: waitUntil may call again while a slow read is still running.
  let reading: Promise<void> = Promise.resolve();
  const readMore = async (): Promise<void> => {
    for (const [shard, iterator] of iterators) {
      let it = iterator;
      for (;;) {
        if (!it) break;
        const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
        it = r.NextShardIterator;
        iterators.set(shard, it);
        for (const rec of r.Records ?? []) raw.push({ shard, key: rec.PartitionKey!, data: Buffer.from(rec.Data!) });
        if ((r.Records ?? []).length === 0) break;
      }
    }
  };
  return {
    client,
    raw,
    async read() {
      reading = reading.then(readMore, readMore);
      await reading;
      // KPL aggregates (kinesis aggregate: true) are de-aggregated; plain records pass through.
      return raw.flatMap((r) => deaggregate(r.data, r.key).map((u) => arrivalOf(u.data.toString('utf8'))));
    },
  };
}

/** A persistent-session MQTT 5 subscriber on the cloud broker (mosquitto). */
export async function mqttSink(t: TestContext, url: string, filter: string): Promise<Sink & { ids: string[] }> {
  const client = mqtt.connect(url, {
    clientId: `upe2e-verifier-${process.pid}`,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 100,
  });
  t.after(() => client.endAsync(true));
  client.on('error', () => undefined);
  const got: Arrival[] = [];
  const ids: string[] = [];
  client.on('message', (_topic, payload, packet) => {
    got.push(arrivalOf(payload.toString('utf8')));
    const id = packet.properties?.userProperties?.['gatehouse-id'];
    ids.push(typeof id === 'string' ? id : '');
  });
  await waitForEvent(client, 'connect');
  await client.subscribeAsync(filter, { qos: 1 });
  return { ids, read: async () => got };
}

/** Every message of a JetStream stream, read with an ordered consumer (fresh on each read). */
export async function natsSink(t: TestContext, url: string, jsStream: string): Promise<Sink & { ids: () => Promise<string[]> }> {
  const nc = await natsConnect({ servers: url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  let msgIds: string[] = [];
  const readOnce = async (): Promise<Arrival[]> => {
    const info = await (await nc.jetstreamManager()).streams.info(jsStream);
    const want = info.state.messages;
    const consumer = await nc.jetstream().consumers.get(jsStream);
    const out: Arrival[] = [];
    const ids: string[] = [];
    while (out.length < want) {
      const batch = await consumer.fetch({ max_messages: want - out.length, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        out.push(arrivalOf(m.string()));
        ids.push(m.headers?.get('Nats-Msg-Id') ?? '');
      }
      if (got === 0) break;
    }
    msgIds = ids;
    return out;
  };
  // Right after the server comes back (the outage tests restart it) JetStream may not answer its
  // API for a moment (a request times out, or finds no responder): that is the peer recovering,
  // not a result. A read is a fresh ordered consumer from the start, so it is simply made again
  // until JetStream answers (bounded; the last error is reported on a timeout).
  const readAll = (): Promise<Arrival[]> => waitUntil(readOnce, `JetStream stream ${jsStream} read back`, 30_000, 100);
  return {
    read: readAll,
    ids: async () => {
      await readAll();
      return msgIds;
    },
  };
}

/** s3rver: every object of the bucket, NDJSON lines, objects ordered by their first sequence. */
export async function s3Sink(
  t: TestContext,
  endpoint: string,
  bucket: string,
): Promise<Sink & { keys: () => string[]; lines: () => Array<Record<string, unknown>> }> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestHandler: new NodeHttpHandler({ requestTimeout: 5000 }),
    maxAttempts: 1,
  });
  t.after(() => client.destroy());
  const objects = new Map<string, Array<Record<string, unknown>>>();
  const firstSeq = (key: string): number => Number(/-(\d+)-\d+\.ndjson/.exec(key)?.[1] ?? 0);
  const sorted = (): string[] => [...objects.keys()].sort((a, b) => firstSeq(a) - firstSeq(b));
  let reading: Promise<void> = Promise.resolve();
  const readMore = async (): Promise<void> => {
    let token: string | undefined;
    do {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of out.Contents ?? []) {
        if (objects.has(o.Key!)) continue;
        const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
        const text = Buffer.from(await body.Body!.transformToByteArray()).toString('utf8');
        objects.set(
          o.Key!,
          text
            .split('\n')
            .filter((l) => l.length > 0)
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        );
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  };
  return {
    keys: sorted,
    lines: () => sorted().flatMap((k) => objects.get(k)!),
    async read() {
      reading = reading.then(readMore, readMore);
      await reading;
      return sorted().flatMap((k) => objects.get(k)!.map((l) => arrivalOf(l.payload)));
    },
  };
}

/**
 * A proxy in front of kinesalite that fails chosen records of PutRecords calls with
 * ProvisionedThroughputExceededException (kinesalite itself never rejects single records, so this
 * thin double sits over the real peer: the other records of the call really reach kinesalite).
 * `failFirst(data)` decides, on a record's first sighting only, whether that attempt fails.
 */
export async function kinesisThrottlingProxy(
  t: TestContext,
  target: string,
  failFirst: (data: string) => boolean,
): Promise<{ url: string; sends: Map<string, number>; failed: Set<string> }> {
  const sends = new Map<string, number>();
  const failed = new Set<string>();
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let body = Buffer.concat(chunks);
        const isPut = String(req.headers['x-amz-target'] ?? '').endsWith('.PutRecords');
        let failAt: boolean[] = [];
        if (isPut) {
          const parsed = JSON.parse(body.toString('utf8')) as { StreamName: string; Records: Array<{ Data: string; PartitionKey: string }> };
          failAt = parsed.Records.map((r) => {
            const data = Buffer.from(r.Data, 'base64').toString('utf8');
            const n = (sends.get(data) ?? 0) + 1;
            sends.set(data, n);
            const fail = n === 1 && failFirst(data);
            if (fail) failed.add(data);
            return fail;
          });
          body = Buffer.from(JSON.stringify({ ...parsed, Records: parsed.Records.filter((_, i) => !failAt[i]) }));
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
        const kept = failAt.filter((f) => !f).length;
        let status = 200;
        let out: Buffer;
        if (isPut && kept === 0) {
          out = Buffer.alloc(0);
        } else {
          const upstream = await fetch(target, { method: 'POST', headers, body });
          status = upstream.status;
          out = Buffer.from(await upstream.arrayBuffer());
        }
        if (isPut && status === 200) {
          const got = kept === 0 ? { Records: [] as unknown[] } : (JSON.parse(out.toString('utf8')) as { Records: unknown[] });
          let j = 0;
          const records = failAt.map((f) =>
            f ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard (test proxy)' } : got.Records[j++],
          );
          out = Buffer.from(JSON.stringify({ FailedRecordCount: failAt.filter(Boolean).length, Records: records }));
        }
        res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': out.length });
        res.end(out);
      })().catch(() => res.destroy());
    });
  });
  return { url: await listenForTest(t, server), sends, failed };
}

/**
 * A proxy in front of kinesalite playing a shard in trouble: until heal(), every record `fails`
 * picks (by its partition key, as a failing shard's, or by its data) is refused with a per-record
 * `errorCode` (InternalFailure, or ProvisionedThroughputExceededException for a hot shard), the
 * others of the call really stored (kinesalite never fails a record, so this thin double sits over
 * the real peer). `refused` counts the refusals of each record (its data).
 */
export async function kinesisInternalFailureProxy(
  t: TestContext,
  target: string,
  fails: (r: { key: string; data: string }) => boolean,
  errorCode = 'InternalFailure',
): Promise<{ url: string; refused: Map<string, number>; heal(): void }> {
  const refused = new Map<string, number>();
  let failing = true;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { StreamName: string; Records: Array<{ Data: string; PartitionKey: string }> };
        const datas = call.Records.map((r) => Buffer.from(r.Data, 'base64').toString('utf8'));
        const bad = call.Records.map((r, i) => failing && fails({ key: r.PartitionKey, data: datas[i]! }));
        const kept = call.Records.filter((_, i) => !bad[i]);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
        let stored: unknown[] = [];
        if (kept.length > 0) {
          const up = await fetch(target, { method: 'POST', headers, body: JSON.stringify({ ...call, Records: kept }) });
          assert.equal(up.status, 200, 'kinesalite stores the records not refused');
          stored = ((await up.json()) as { Records: unknown[] }).Records;
        }
        let j = 0;
        const records = call.Records.map((_, i) => {
          if (!bad[i]) return stored[j++];
          refused.set(datas[i]!, (refused.get(datas[i]!) ?? 0) + 1);
          return { ErrorCode: errorCode, ErrorMessage: errorCode === 'InternalFailure' ? 'Internal service failure.' : 'Rate exceeded for shard.' };
        });
        const out = Buffer.from(JSON.stringify({ FailedRecordCount: bad.filter(Boolean).length, Records: records }));
        res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': out.length });
        res.end(out);
      })().catch(() => res.destroy());
    });
  });
  return { url: await listenForTest(t, server), refused, heal: () => (failing = false) };
}

/** Listen on a port the kernel picks, closed (connections too) after the test; resolves with its URL. */
async function listenForTest(t: TestContext, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}
