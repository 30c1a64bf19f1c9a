// What the power-cut tests and bench run on a gateway (test/helpers/power-cut.ts makes the disk and
// the cut): MQTT publishers at QoS 1 that record each PUBACK, and the reading of what a disk holds
// (the archive stream and the export files, with the store opened on a copy or through a gateway
// started on it) against those PUBACKs.
import { readdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import mqtt from 'mqtt';
import { openLocalStreams } from '../../gateway/store/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './gateway-process.js';
import { testDeps, waitUntil } from './index.js';
import { cutPower, type Cleanups, type LoopDisk } from './power-cut.js';

/** QoS 1 publishes each publisher keeps in flight. */
const WINDOW = 16;

export interface Flow {
  /** `tag/c:i` of every publish that got its PUBACK. */
  acked: Set<string>;
  stop(): Promise<void>;
}

/**
 * `publishers` clients (MQTT 3.1.1 and 5 in turn: aedes' publish path and the gateway's own, each
 * acknowledging after its own code) publishing {r: tag, c, i} at QoS 1 as fast as PUBACKs come
 * back, WINDOW in flight each; `padBytes` of random padding in each payload.
 */
export async function publish(url: string, tag: string, publishers = 4, padBytes = 0): Promise<Flow> {
  // Random (base64): LevelDB's snappy would shrink a repeated character to next to nothing.
  const pad = (): string | undefined => (padBytes > 0 ? randomBytes(Math.ceil((padBytes * 3) / 4)).toString('base64') : undefined);
  const acked = new Set<string>();
  const clients = await Promise.all(
    Array.from({ length: publishers }, (_, c) =>
      mqtt.connectAsync(url, { clientId: `cut-${tag}-${c}`, reconnectPeriod: 0, clean: true, protocolVersion: c % 2 === 0 ? 4 : 5 }),
    ),
  );
  let stopped = false;
  clients.forEach((client, c) => {
    let i = 0;
    const next = (): void => {
      if (stopped || !client.connected) return;
      const n = i++;
      client.publish(`plant/line${c}/reading`, JSON.stringify({ r: tag, c, i: n, temp: 20 + (n % 7), pad: pad() }), { qos: 1 }, (err) => {
        // An error is no PUBACK: not acknowledged. An MQTT 5 client goes on after a refusal (a
        // negative PUBACK); a 3.1.1 one, whose connection the broker closed, or one the cut
        // stopped, does not (next() sees it disconnected).
        if (!err) acked.add(`${tag}/${c}:${n}`);
        next();
      });
    };
    for (let k = 0; k < WINDOW; k++) next();
  });
  return {
    acked,
    async stop() {
      stopped = true;
      for (const c of clients) c.end(true);
    },
  };
}

export type Payload = Record<string, unknown>;
/** Run tag, publisher, index: unique over every run. */
export const publishKey = (p: Payload): string => `${String(p.r)}/${String(p.c)}:${String(p.i)}`;

export interface Held {
  held: Set<string>;
  inStream: number;
  exported: number;
  tornLines: number;
}

export const emptyHeld = (): Held => ({ held: new Set(), inStream: 0, exported: 0, tornLines: 0 });

/**
 * Add the key of every payload in the export files under dataDir/export to `into`. A file cut in
 * the middle of its last gzip member is read as far as it decodes (that batch was not
 * checkpointed, so its records are also in the stream, or were never acknowledged).
 */
export async function readExports(dataDir: string, key: (p: Payload) => string, into: Held): Promise<void> {
  const files = await readdir(join(dataDir, 'export'), { recursive: true, withFileTypes: true }).catch(() => []);
  for (const f of files) {
    if (!f.isFile()) continue;
    const text = gunzipSync(await readFile(join(f.parentPath, f.name)), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        into.held.add(key((JSON.parse(line) as { payload: Payload }).payload));
        into.exported++;
      } catch {
        into.tornLines++;
      }
    }
  }
}

/** What the disk holds after the cut, read with the store opened on it (no gateway): the archive stream, then the export files. */
export async function heldOnDisk(dataDir: string, key: (p: Payload) => string = publishKey): Promise<Held> {
  const found = emptyHeld();
  const streams = await openLocalStreams({ path: join(dataDir, 'store') }, testDeps());
  try {
    // As the gateway's config defines it (the default archive stream).
    await streams.defineStream({ name: 'archive', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
    for (let from = 1; ; ) {
      const recs = await streams.read('archive', from, { limit: 1000 });
      if (recs.length === 0) break;
      for (const r of recs) found.held.add(key(JSON.parse(r.payload.toString('utf8')) as Payload));
      found.inStream += recs.length;
      from = recs[recs.length - 1]!.seq + 1;
    }
  } finally {
    await streams.close();
  }
  await readExports(dataDir, key, found);
  return found;
}

/**
 * What the disk holds, read through a gateway started on it (its own recovery from the cut): the
 * stream's records from the admin API, then the export files. Records the exporter moves from the
 * stream to a file meanwhile are in the file by the time it is read (a record leaves the stream
 * only once its file is fsynced).
 */
export async function throughGateway(gw: GatewayProcess, dataDir: string): Promise<Held> {
  const found = emptyHeld();
  for (let from = 1; ; ) {
    const res = await fetch(`${gw.adminUrl}/api/streams/archive/records?from=${from}&limit=1000`);
    const page = (await res.json()) as { records: Array<{ payload: string }>; next: number };
    if (res.status !== 200) throw new Error(`GET records from ${from}: ${res.status} ${JSON.stringify(page)}`);
    if (page.records.length === 0) break;
    for (const r of page.records) found.held.add(publishKey(JSON.parse(r.payload) as Payload));
    found.inStream += page.records.length;
    from = page.next;
  }
  await readExports(dataDir, publishKey, found);
  return found;
}

/** Node flags and environment to start the gateway with (the benches': bin/gatehouse.js's #! line). */
export interface LaunchAs {
  nodeFlags: string[];
  env: Record<string, string>;
}

/** The gateway on `disk` (config written there, data in disk/data), its options as YAML lines. */
export async function gatewayOn(t: Cleanups, disk: LoopDisk, yaml = '', launch?: LaunchAs): Promise<GatewayProcess> {
  const config = await writeConfig(disk.dir, `dataDir: ${JSON.stringify(join(disk.dir, 'data'))}\nlog: { level: info }\n${yaml}`);
  const gw = await startGatewayProcess(config, [], 60_000, launch?.nodeFlags, launch?.env);
  t.after(() => gw.kill9());
  return gw;
}

/** Publish through gw until `ackedBefore` PUBACKs, then cut the power: the PUBACKs got and the disk after the cut (mounted). */
export async function publishThenCut(t: Cleanups, gw: GatewayProcess, disk: LoopDisk, ackedBefore: number, tag: string, publishers = 4) {
  const flow = await publish(gw.mqttUrl, tag, publishers);
  t.after(() => flow.stop());
  await waitUntil(() => flow.acked.size >= ackedBefore, `${ackedBefore} PUBACKs`, 60_000);
  const after = await cutPower(t, disk, gw.proc.pid!);
  // Taken before the gateway is killed: nothing it does after the cut reaches the copy anyway.
  const acked = new Set(flow.acked);
  await gw.kill9();
  await flow.stop();
  return { acked, after };
}
