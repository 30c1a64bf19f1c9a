// Churn soak: a gateway that runs for months in a cabinet sees devices come and go, not a fixed fleet
// (soak.ts). This bench runs the real `gatehouse start` (compiled, bin/gatehouse.js: run `npm run
// build` first) in a child with users + ACL, MQTT 5, retained messages, a windowed rule GROUP BY
// topic(), a z-score detector PARTITION BY topic(2) and republish rules, and a churning fleet of
// devices, each under a client id and topics never seen before:
// - clean:  MQTT 3.1.1 clean session: publishes, subscribes, unsubscribes, leaves;
// - persist: 3.1.1 clean false with a subscription, never comes back (maxPersistentSessions);
// - v5:     MQTT 5 with a Session Expiry Interval (half --v5-expiry s, half a day: mqtt5.maxSessions);
// - v5will: MQTT 5, a session that never expires and a will delayed a day (--will-bytes), then
//           the socket destroyed: its will is due when mqtt5.maxSessions removes its session;
// - will:   a will, then the socket destroyed (the will is published);
// - takeover: two connections with one client id;
// - acl:    publishes where its ACL denies (the broker closes the connection);
// - auth:   an unknown user name, from a rotating 127.0.1.x address (no address ban);
// plus a reconnect storm of --storm-size devices every --storm-every minutes, a long-lived `app`
// subscriber on out/# and will/#, and --admin-rate admin API requests/s on new connections.
// Every device publishes --msgs QoS 1 readings on fleet/<id>/data and one retained on fleet/<id>/state.
// The limits are lowered (--limit: persistent sessions, MQTT 5 sessions, rule groups and detector
// partitions; retained --limit x 5) so that they bite within a run of minutes.
// Every --sample-seconds it prints, from the child: RSS (and by mapping: brk heap, other anonymous,
// files), heapUsed and heapTotal, external memory, open fds (/proc/PID/fd), active
// handles, data dir bytes, metric series (GET /metrics lines), clients, 3.1.1 persistent sessions,
// MQTT 5 sessions, retained messages, 3.1.1 clients with queued state. At the end: each figure's
// growth from the sample at --warmup minutes to the last, and the metric families whose series
// grew. Nothing is asserted (a benchmark); not in `npm run bench` by default (it runs for minutes).
//
//   npm run build && node --import tsx test/bench/churn.ts --minutes 15 [--rate 20] [--mix clean=35,persist=15,v5=15,v5will=10,will=10,takeover=5,acl=8,auth=2]
//     [--msgs 3] [--storm-every 3] [--storm-size 200] [--v5-expiry 120] [--limit 1000] [--admin-rate 2]
//     [--will-bytes 4096] [--snapshots 4,14]   (heap snapshots at those minutes, kept in a printed directory)
//     [--gateway /other/clone/bin/gatehouse.js]   (another build's CLI: a before/after comparison)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { hashPassword } from '../../gateway/broker/password.js';
import { launcherOf } from './launcher.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const KINDS = ['clean', 'persist', 'v5', 'v5will', 'will', 'takeover', 'acl', 'auth'] as const;
type Kind = (typeof KINDS)[number];

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    minutes: { type: 'string', default: '15' },
    rate: { type: 'string', default: '20' },
    mix: { type: 'string', default: 'clean=35,persist=15,v5=15,v5will=10,will=10,takeover=5,acl=8,auth=2' },
    msgs: { type: 'string', default: '3' },
    'storm-every': { type: 'string', default: '3' },
    'storm-size': { type: 'string', default: '200' },
    'v5-expiry': { type: 'string', default: '120' },
    limit: { type: 'string', default: '1000' },
    'admin-rate': { type: 'string', default: '2' },
    'max-live': { type: 'string', default: '300' },
    'will-bytes': { type: 'string', default: '4096' },
    'sample-seconds': { type: 'string', default: '60' },
    warmup: { type: 'string', default: '3' },
    snapshots: { type: 'string', default: '' },
    gateway: { type: 'string', default: join(repoRoot, 'bin', 'gatehouse.js') },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const msgs = Number(values.msgs);
const limit = Number(values.limit);
const v5Expiry = Number(values['v5-expiry']);
const maxLive = Number(values['max-live']);
// an MQTT binary field (a will's payload) holds at most 65,535 bytes
const willBytes = Math.min(65_535, Number(values['will-bytes']));
const weights = new Map<Kind, number>();
for (const part of values.mix.split(',')) {
  const [k, w] = part.split('=');
  if (!KINDS.includes(k as Kind)) throw new Error(`--mix: unknown kind ${k} (${KINDS.join(', ')})`);
  weights.set(k as Kind, Number(w));
}
const totalWeight = [...weights.values()].reduce((a, b) => a + b, 0);
function pickKind(): Kind {
  let r = Math.random() * totalWeight;
  for (const [k, w] of weights) if ((r -= w) < 0) return k;
  return 'clean';
}

// ---- the gateway -------------------------------------------------------------------------------

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-churn-'));
const dataDir = join(dir, 'data');
const snapshotAt = values.snapshots ? values.snapshots.split(',').map(Number) : [];
const snapDir = join(tmpdir(), `gatehouse-churn-snapshots-${process.pid}`);
if (snapshotAt.length) await mkdir(snapDir, { recursive: true });
await writeFile(
  join(dir, 'rules.yaml'),
  `version: 1
rules:
  - name: per_topic_window
    sql: >-
      SELECT topic(2) AS dev, count(*) AS n, avg(v) AS mean FROM 'fleet/+/data' GROUP BY topic(), TUMBLINGWINDOW(ss, 20)
    actions:
      - republish: { topic: 'out/win/\${dev}', qos: 0 }
  - name: per_device_z
    sql: >-
      SELECT topic(2) AS dev, zscore(v, {window: 20, warmup: 0, maxPartitions: ${limit}}) OVER (PARTITION BY topic(2)) AS z FROM 'fleet/+/data'
    actions:
      - republish: { topic: 'out/z/\${topic(2)}', qos: 0 }
  - name: echo
    sql: >-
      SELECT * FROM 'fleet/+/data'
    actions:
      - republish: { topic: 'out/echo/\${topic(2)}', qos: 1 }
`,
);
const config = {
  dataDir,
  rulesFile: 'rules.yaml',
  exporters: [],
  ruleState: { maxGroups: limit },
  broker: {
    allowAnonymous: false,
    users: [
      { username: 'dev', password: hashPassword('dev-pw') },
      { username: 'app', password: hashPassword('app-pw') },
    ],
    acl: {
      users: {
        dev: [
          { topic: 'fleet/#', access: 'readwrite' },
          { topic: 'cmd/#', access: 'read' },
          { topic: 'will/#', access: 'write' },
        ],
        app: [{ topic: '#', access: 'readwrite' }],
      },
    },
    maxPersistentSessions: limit,
    maxRetainedMessages: limit * 5,
    mqtt5: { maxSessions: limit },
  },
};
await writeFile(join(dir, 'gatehouse.json'), JSON.stringify(config, null, 2));

// As installed: the node flags and environment of that build's #! line.
const shipped = launcherOf(values.gateway);
const nodeArgs = [...shipped.nodeFlags, ...(snapshotAt.length ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`] : [])];
const child = spawn(
  process.execPath,
  [...nodeArgs, values.gateway, 'start', '--config', join(dir, 'gatehouse.json'), '--mqtt-port', '0', '--admin-port', '0'],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...shipped.env } },
);
const warnings = new Map<string, number>();
/** The first log line of each warning, as written. */
const firstWarning = new Map<string, string>();
let stderr = '';
child.stderr!.on('data', (d: Buffer) => {
  stderr += d.toString();
  if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
});
const started = new Promise<{ mqtt: number; admin: number }>((resolve, reject) => {
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (e.msg === 'gatehouse started') resolve({ mqtt: (e.mqtt as Array<{ port: number }>)[0]!.port, admin: (e.admin as { port: number }).port });
    else if (typeof e.level === 'number' && e.level >= 40) {
      const msg = String(e.msg);
      warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
      if (!firstWarning.has(msg)) firstWarning.set(msg, line.slice(0, 400));
    }
  });
  child.once('exit', (code) => reject(new Error(`gateway exited with ${String(code)} before starting: ${stderr}`)));
});
// Ctrl-C, a timeout's SIGTERM or a gateway that did not start: leave no gateway nor temp dir behind.
const cleanUp = async (): Promise<void> => {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await rm(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanUp().finally(() => process.exit(130)));
const ports = await started.catch(async (err: Error) => {
  await cleanUp();
  throw err;
});
const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
const pid = child.pid!;

// ---- the fleet ---------------------------------------------------------------------------------

const counts = { started: 0, ok: 0, failed: 0, refusedAsExpected: 0, published: 0, storms: 0, admin: 0, adminFailed: 0 };
let live = 0;
/** Why devices failed ('kind: message') and how often. */
const failures = new Map<string, number>();
let seq = 0;
const runId = Date.now().toString(36);
let authAddr = 0;

function withTimeout<T>(p: Promise<T>, ms: number, what = 'timeout'): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(what)), ms)))]).finally(() => clearTimeout(t));
}

/** A device's step that the broker answers (PUBACK, SUBACK, UNSUBACK): a failure if it does not within 60 s. */
const answered = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, 60_000, `no ${what} within 60 s`);

/**
 * The clients of the devices running, by device: each is ended (forced) when its device ends,
 * whatever way it ended. Before, a device that failed half-way (a publish refused, a timeout) left
 * its client connected for good: in a 100-minute run on a busy machine, 237 such connections.
 */
type Owned = Set<mqtt.MqttClient>;

async function connect(owned: Owned, opts: mqtt.IClientOptions, localAddress?: string): Promise<mqtt.MqttClient> {
  const full: mqtt.IClientOptions = { reconnectPeriod: 0, connectTimeout: 15_000, username: 'dev', password: 'dev-pw', ...opts };
  // mqtt.js cannot pick a source address: with one, the socket is built here.
  const c = localAddress
    ? new mqtt.MqttClient(() => net.createConnection({ host: '127.0.0.1', port: ports.mqtt, localAddress }), full)
    : mqtt.connect(mqttUrl, full);
  owned.add(c);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before CONNACK')));
    }),
    20_000,
    'no CONNACK within 20 s',
  );
  return c;
}

async function readings(c: mqtt.MqttClient, id: string): Promise<void> {
  for (let i = 0; i < msgs; i++) {
    await answered(c.publishAsync(`fleet/${id}/data`, JSON.stringify({ v: 20 + Math.random() * 5, i }), { qos: 1 }), 'PUBACK');
    counts.published++;
  }
  await answered(c.publishAsync(`fleet/${id}/state`, JSON.stringify({ up: true, at: Date.now() }), { qos: 1, retain: true }), 'PUBACK');
  counts.published++;
}

async function device(kind: Kind, owned: Owned): Promise<void> {
  const id = `churn-${runId}-${(seq++).toString(36)}`;
  switch (kind) {
    case 'clean': {
      const c = await connect(owned, { clientId: id, clean: true });
      await answered(c.subscribeAsync(`cmd/${id}/#`, { qos: 1 }), 'SUBACK');
      await answered(c.subscribeAsync(`fleet/${id}/+`, { qos: 0 }), 'SUBACK');
      await readings(c, id);
      await answered(c.unsubscribeAsync(`fleet/${id}/+`), 'UNSUBACK');
      await c.endAsync();
      return;
    }
    case 'persist': {
      const c = await connect(owned, { clientId: id, clean: false });
      await answered(c.subscribeAsync(`cmd/${id}/#`, { qos: 1 }), 'SUBACK');
      await readings(c, id);
      await c.endAsync();
      return;
    }
    case 'v5': {
      const expiry = Math.random() < 0.5 ? v5Expiry : 86_400;
      const c = await connect(owned, { clientId: id, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: expiry } });
      await answered(c.subscribeAsync(`cmd/${id}/#`, { qos: 1 }), 'SUBACK');
      await readings(c, id);
      await c.endAsync();
      return;
    }
    case 'v5will': {
      const c = await connect(owned, {
        clientId: id,
        clean: false,
        protocolVersion: 5,
        properties: { sessionExpiryInterval: 0xffffffff },
        will: {
          topic: `will/${id}`,
          payload: Buffer.alloc(willBytes, 'w'),
          qos: 1,
          retain: false,
          properties: { willDelayInterval: 86_400 },
        },
      });
      await readings(c, id);
      c.stream.destroy();
      c.end(true);
      return;
    }
    case 'will': {
      const c = await connect(owned, { clientId: id, clean: true, will: { topic: `will/${id}`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      await readings(c, id);
      c.stream.destroy(); // no DISCONNECT: the broker publishes the will
      c.end(true);
      return;
    }
    case 'takeover': {
      const a = await connect(owned, { clientId: id, clean: true });
      await readings(a, id);
      const b = await connect(owned, { clientId: id, clean: true });
      await readings(b, `${id}-b`);
      a.end(true);
      await b.endAsync();
      return;
    }
    case 'acl': {
      const c = await connect(owned, { clientId: id, clean: true });
      await readings(c, id);
      // Denied: MQTT 3.1.1 closes the connection (no PUBACK).
      await withTimeout(
        new Promise<void>((resolve) => {
          c.once('close', () => resolve());
          c.publish(`forbidden/${id}`, 'x', { qos: 1 });
        }),
        10_000,
      );
      c.end(true);
      counts.refusedAsExpected++;
      return;
    }
    case 'auth': {
      authAddr = (authAddr % 250) + 1;
      try {
        const c = await connect(owned, { clientId: id, username: `nobody-${id}`, password: 'wrong' }, `127.0.1.${authAddr}`);
        c.end(true);
        throw new Error('an unknown user was accepted');
      } catch (err) {
        if ((err as Error).message.includes('accepted')) throw err;
        counts.refusedAsExpected++;
      }
      return;
    }
  }
}

function launch(kind: Kind): void {
  if (live >= maxLive) return;
  live++;
  counts.started++;
  const owned: Owned = new Set();
  device(kind, owned)
    .then(
      () => counts.ok++,
      (err: Error) => {
        counts.failed++;
        const why = `${kind}: ${err.message}`;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      },
    )
    .finally(() => {
      for (const c of owned) if (!c.disconnected) c.end(true);
      live--;
    });
}

function adminGet(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: ports.admin, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`${path}: timeout`)));
  });
}

// The app: one long-lived subscriber to what the rules republish and to the wills.
const app = await mqtt.connectAsync(mqttUrl, { clientId: `app-${runId}`, username: 'app', password: 'app-pw', reconnectPeriod: 1000 });
let appReceived = 0;
app.on('message', () => appReceived++);
await app.subscribeAsync(['out/#', 'will/#'], { qos: 0 });

// ---- sampling ----------------------------------------------------------------------------------

interface Sample {
  atMin: number;
  rssMiB: number;
  heapMiB: number;
  /** V8's heap as committed (what of it counts in RSS): grows apart from heapUsed when it fragments. */
  heapTotalMiB: number;
  externalMiB: number;
  /** RSS by mapping (/proc/PID/smaps): the brk heap (glibc's main arena), other anonymous mappings
   * (V8's heap, other threads' malloc arenas, stacks), and files mapped (code, LevelDB tables). */
  brkMiB: number;
  anonMiB: number;
  fileMiB: number;
  fds: number;
  handles: number;
  dataMiB: number;
  series: number;
  clients: number;
  persistent: number;
  v5: number;
  retained: number;
  queued: number;
  families: Map<string, number>;
}

async function dirBytes(p: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(p, { withFileTypes: true }).catch(() => [])) {
    const f = join(p, e.name);
    if (e.isDirectory()) n += await dirBytes(f);
    else n += (await stat(f).catch(() => ({ size: 0 }))).size;
  }
  return n;
}

function metric(lines: string[], name: string, labels = ''): number {
  let sum = 0;
  for (const l of lines)
    if (l.startsWith(name) && (l[name.length] === ' ' || (l[name.length] === '{' && l.includes(labels)))) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

/** The child's RSS in MiB by kind of mapping, from /proc/PID/smaps. */
async function rssByMapping(): Promise<{ brkMiB: number; anonMiB: number; fileMiB: number }> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8').catch(() => '');
  const kb = { brk: 0, anon: 0, file: 0 };
  let kind: keyof typeof kb = 'anon';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1]!;
      kind = name === '[heap]' ? 'brk' : name === '' || name.startsWith('[') ? 'anon' : 'file';
    } else if (line.startsWith('Rss:')) kb[kind] += Number(line.slice(4).trim().split(/\s+/)[0]);
  }
  return { brkMiB: kb.brk / 1024, anonMiB: kb.anon / 1024, fileMiB: kb.file / 1024 };
}

async function sample(atMin: number): Promise<Sample> {
  const lines = (await adminGet('/metrics')).split('\n').filter((l) => l && !l.startsWith('#'));
  const families = new Map<string, number>();
  for (const l of lines) {
    const name = l.split(/[{ ]/, 1)[0]!;
    families.set(name, (families.get(name) ?? 0) + 1);
  }
  return {
    atMin,
    rssMiB: metric(lines, 'gatehouse_process_resident_memory_bytes') / 1048576,
    heapMiB: metric(lines, 'gatehouse_nodejs_heap_size_used_bytes') / 1048576,
    heapTotalMiB: metric(lines, 'gatehouse_nodejs_heap_size_total_bytes') / 1048576,
    externalMiB: metric(lines, 'gatehouse_nodejs_external_memory_bytes') / 1048576,
    ...(await rssByMapping()),
    fds: (await readdir(`/proc/${pid}/fd`)).length,
    handles: metric(lines, 'gatehouse_nodejs_active_handles_total'),
    dataMiB: (await dirBytes(dataDir)) / 1048576,
    series: lines.length,
    clients: metric(lines, 'gatehouse_mqtt_clients'),
    persistent: metric(lines, 'gatehouse_mqtt_persistent_sessions'),
    v5: metric(lines, 'gatehouse_mqtt5_sessions'),
    retained: metric(lines, 'gatehouse_mqtt_retained_messages'),
    queued: metric(lines, 'gatehouse_mqtt_session_state_clients', 'kind="queue"'),
    families,
  };
}

const COLS: Array<[string, keyof Sample, number]> = [
  ['RSS MiB', 'rssMiB', 0],
  ['heap MiB', 'heapMiB', 1],
  ['heapTot', 'heapTotalMiB', 1],
  ['ext MiB', 'externalMiB', 1],
  ['brk', 'brkMiB', 1],
  ['anon', 'anonMiB', 1],
  ['files', 'fileMiB', 1],
  ['fds', 'fds', 0],
  ['handles', 'handles', 0],
  ['data MiB', 'dataMiB', 1],
  ['series', 'series', 0],
  ['clients', 'clients', 0],
  ['3.1.1 sess', 'persistent', 0],
  ['v5 sess', 'v5', 0],
  ['retained', 'retained', 0],
  ['queued cl', 'queued', 0],
];

if (loadavg()[0]! > cpus().length)
  console.log(`WARNING: load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores at start: figures are not the gateway's own`);
console.log(
  `churn: ${minutes} min, ${rate} new devices/s (${values.mix}), ${msgs} readings + 1 retained each, storms of ${values['storm-size']} every ${values['storm-every']} min, limits ${limit}; gateway pid ${pid}, dir ${dir}`,
);
console.log(['min', ...COLS.map((c) => c[0]), 'devices ok/failed'].join('\t'));

const t0 = Date.now();
const samples: Sample[] = [await sample(0)];
const endAt = t0 + minutes * 60_000;
const sampleMs = Number(values['sample-seconds']) * 1000;
const stormMs = Number(values['storm-every']) * 60_000;
let nextSample = t0 + sampleMs;
let nextStorm = t0 + stormMs;
let owedDevices = 0;
let owedAdmin = 0;
const snapshotsLeft = [...snapshotAt];
let last = Date.now();
while (Date.now() < endAt) {
  await new Promise((r) => setTimeout(r, 100));
  const now = Date.now();
  const dt = (now - last) / 1000;
  last = now;
  owedDevices += dt * rate;
  for (; owedDevices >= 1; owedDevices--) launch(pickKind());
  owedAdmin += dt * Number(values['admin-rate']);
  for (; owedAdmin >= 1; owedAdmin--) {
    counts.admin++;
    adminGet(counts.admin % 2 ? '/api/clients' : '/api/overview').catch(() => counts.adminFailed++);
  }
  if (stormMs > 0 && now >= nextStorm) {
    nextStorm += stormMs;
    counts.storms++;
    for (let i = 0; i < Number(values['storm-size']); i++) launch(pickKind());
  }
  if (snapshotsLeft.length && now - t0 >= snapshotsLeft[0]! * 60_000) {
    snapshotsLeft.shift();
    process.kill(pid, 'SIGUSR2');
    console.log(`heap snapshot requested (${snapDir})`);
  }
  if (now >= nextSample) {
    nextSample += sampleMs;
    const s = await sample((now - t0) / 60_000);
    samples.push(s);
    console.log([s.atMin.toFixed(1), ...COLS.map(([, k, d]) => (s[k] as number).toFixed(d)), `${counts.ok}/${counts.failed}`].join('\t'));
  }
}
// Let the devices in flight finish, then one last sample after the fleet is gone.
const quietUntil = Date.now() + 30_000;
while (live > 0 && Date.now() < quietUntil) await new Promise((r) => setTimeout(r, 200));
const end = await sample((Date.now() - t0) / 60_000);
samples.push(end);
console.log([`${end.atMin.toFixed(1)}*`, ...COLS.map(([, k, d]) => (end[k] as number).toFixed(d)), `${counts.ok}/${counts.failed}`].join('\t'));

const warmupMin = Number(values.warmup);
const base = samples.find((s) => s.atMin >= warmupMin) ?? samples[0]!;
console.log(`\ngrowth from minute ${base.atMin.toFixed(1)} to the end (${end.atMin.toFixed(1)}):`);
for (const [label, k, d] of COLS) {
  const a = base[k] as number;
  const b = end[k] as number;
  const pct = a === 0 ? (b === 0 ? '0%' : 'from 0') : `${(((b - a) / a) * 100).toFixed(1)}%`;
  console.log(`  ${label}: ${a.toFixed(d)} -> ${b.toFixed(d)} (${pct})`);
}
const grown: string[] = [];
for (const [name, n] of end.families) {
  const was = base.families.get(name) ?? 0;
  if (n > was) grown.push(`${name} ${was} -> ${n}`);
}
console.log(`metric families with more series: ${grown.length ? grown.join(', ') : 'none'}`);
console.log(
  `devices: ${counts.started} started, ${counts.ok} done, ${counts.failed} failed, ${counts.refusedAsExpected} refused as meant (acl, auth); ${counts.published} publishes PUBACKed; ${counts.storms} storms; app received ${appReceived}; admin requests ${counts.admin} (${counts.adminFailed} failed)`,
);
console.log(`device failures: ${[...failures].map(([m, n]) => `${n} x ${m}`).join('; ') || 'none'}`);
console.log(`gateway warnings: ${[...warnings].map(([m, n]) => `${n} x ${m}`).join('; ') || 'none'}`);
for (const line of firstWarning.values()) console.log(`  first: ${line}`);
console.log(`BENCH_JSON ${JSON.stringify({ bench: 'churn', minutes, rate, counts, samples: samples.map((s) => ({ ...s, families: undefined })) })}`);

await app.endAsync();
await cleanUp();
