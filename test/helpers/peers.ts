// Real upstream peers for tests: kinesalite and s3rver (npm, in-process), nats-server and
// mosquitto (Debian binaries, child processes). Each listens on 127.0.0.1 on a free port, keeps
// its data in a temp dir (or in memory for kinesalite), and offers down()/up() for outages that
// keep the data, restart() = down + up, and stop() (also registered with t.after). The port is a
// restartable one (ports.ts): no other test can be handed it while the peer is down.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { connect as netConnect, type Server } from 'node:net';
import { Server as HttpServer } from 'node:http';
import type { TestContext } from 'node:test';
import { removeTempDir, tempDir, waitUntil, which } from './index.js';
import { bindable, onRestartablePort } from './ports.js';

export interface Peer {
  /** Base URL (http://127.0.0.1:PORT, nats://..., mqtt://...). */
  url: string;
  port: number;
  /** Make the peer unreachable, keeping its data. */
  down(): Promise<void>;
  /** Bring it back on the same port. */
  up(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** True once something accepts TCP connections on the port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Listen on 127.0.0.1:port; rejects with the listen error (EADDRINUSE) instead of emitting it. */
export function listenOnLoopback(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Close a listener and its open keep-alive sockets, without the subclass' own close(). */
function closeHttp(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    HttpServer.prototype.close.call(server, () => resolve());
    server.closeAllConnections();
  });
}

type KinesaliteFactory = (opts: { createStreamMs?: number; deleteStreamMs?: number; updateStreamMs?: number; shardLimit?: number }) => HttpServer;

/**
 * kinesalite in this process, in memory. down() closes only the HTTP listener (kinesalite's own
 * close() would drop its in-memory database), so data survives an outage.
 */
export async function startKinesalite(t: TestContext): Promise<Peer> {
  const kinesalite = require('kinesalite') as KinesaliteFactory;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  const port = await onRestartablePort(t, async (p) => {
    await listenOnLoopback(server, p);
    return p;
  });
  let listening = true;
  const peer: Peer = {
    url: `http://127.0.0.1:${port}`,
    port,
    async down() {
      if (listening) {
        listening = false;
        await closeHttp(server);
      }
    },
    async up() {
      if (!listening) {
        (HttpServer.prototype.listen as (this: HttpServer, port: number, host: string) => unknown).call(server, port, '127.0.0.1');
        listening = true;
        await waitUntil(() => portOpen(port), `kinesalite back on ${port}`);
      }
    },
    async restart() {
      await peer.down();
      await peer.up();
    },
    async stop() {
      if (listening) {
        listening = false;
        await closeHttp(server);
      }
    },
  };
  t.after(() => peer.stop());
  return peer;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: HttpServer;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

/** s3rver in this process, storing objects under a temp dir, with the given buckets. */
export async function startS3rver(t: TestContext, buckets: string[]): Promise<Peer & { directory: string }> {
  const S3rver = require('s3rver') as S3rverCtor;
  const directory = await tempDir(t, 'gatehouse-s3rver-');
  let port = 0;
  let inst: S3rverInstance | undefined;
  const boot = async (): Promise<void> => {
    inst = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
    const addr = await inst.run();
    port = addr.port;
  };
  await onRestartablePort(t, async (p) => {
    port = p;
    await boot();
  });
  const halt = async (): Promise<void> => {
    const i = inst;
    inst = undefined;
    if (!i) return;
    i.httpServer?.closeAllConnections();
    await i.close();
  };
  const peer = {
    url: `http://127.0.0.1:${port}`,
    port,
    directory,
    down: halt,
    async up() {
      if (!inst) await boot();
    },
    async restart() {
      await halt();
      await boot();
    },
    stop: halt,
  };
  t.after(() => peer.stop());
  return peer;
}

/** A child process peer: spawned with args, ready when its port accepts connections. */
async function childPeer(
  t: TestContext,
  scheme: string,
  bin: string,
  args: (port: number) => string[],
  before?: (port: number) => Promise<void>,
  dataDir?: string,
): Promise<Peer> {
  const path = which(bin);
  if (!path) throw new Error(`${bin} is not installed`);
  let port = 0;
  let child: ChildProcess | undefined;
  let stderr = '';
  const boot = async (): Promise<void> => {
    // Taken by something else (ready to listen, the port would look open with the peer exited).
    if (!(await bindable(port))) throw new Error(`${bin} cannot listen on ${port}: address already in use`);
    stderr = '';
    const c = spawn(path, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4000) stderr += d;
    });
    // 'close': exited and its stderr read to the end (what it said, e.g. that its port is taken).
    let gone = false;
    c.once('close', () => {
      gone = true;
    });
    await waitUntil(async () => gone || portOpen(port), `${bin} listening on ${port}`, 10_000, 20);
    if (gone) throw new Error(`${bin} exited with ${c.exitCode}: ${stderr}`);
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  // Registered before the first boot so a peer that fails to start is still stopped, and its data
  // dir goes only after the process that writes into it has exited (see removeTempDir).
  t.after(async () => {
    await halt();
    if (dataDir) await removeTempDir(dataDir);
  });
  await onRestartablePort(t, async (p) => {
    port = p;
    if (before) await before(port);
    await boot();
  });
  const peer: Peer = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    down: halt,
    async up() {
      if (!child) await boot();
    },
    async restart() {
      await halt();
      await boot();
    },
    stop: halt,
  };
  return peer;
}

/** A temp dir for a peer's data, removed by the peer's own after-hook once the peer has stopped. */
function peerDataDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** nats-server with JetStream, file storage in a temp dir (survives restart). */
export async function startNats(t: TestContext): Promise<Peer> {
  const dir = await peerDataDir('gatehouse-nats-');
  return childPeer(t, 'nats', 'nats-server', (port) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], undefined, dir);
}

/**
 * A mosquitto.conf: anonymous on loopback at `port`, persistence in `dir` saved every second (queued
 * QoS 1 messages survive a restart), at most `maxQueued` messages queued per client.
 */
export function mosquittoConfig(port: number, dir: string, maxQueued: number): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Run as ourselves: as root, mosquitto drops to user 'mosquitto', which cannot write the temp dir.
    `user ${userInfo().username}`,
    'persistence true',
    `persistence_location ${dir}/`,
    'autosave_interval 1',
    `max_queued_messages ${maxQueued}`,
    'log_dest stderr',
    'log_type error',
    '',
  ].join('\n');
}

/**
 * mosquitto with persistence in a temp dir (queued QoS 1 messages survive restart), anonymous on loopback.
 * `extraConfig`: more mosquitto.conf lines (e.g. a debug log to a file the test reads).
 */
export async function startMosquitto(t: TestContext, extraConfig: readonly string[] = []): Promise<Peer> {
  const dir = await peerDataDir('gatehouse-mosquitto-');
  const conf = join(dir, 'mosquitto.conf');
  return childPeer(
    t,
    'mqtt',
    'mosquitto',
    () => ['-c', conf],
    (port) => writeFile(conf, mosquittoConfig(port, dir, 100_000) + extraConfig.map((l) => `${l}\n`).join('')),
    dir,
  );
}

/**
 * Prometheus (Debian's `prometheus` package) scraping `targets` (host:port) every second as job
 * `gatehouse` and evaluating `ruleFiles` every second, its TSDB in a temp dir. `url` is its HTTP API.
 */
export async function startPrometheus(t: TestContext, targets: readonly string[], ruleFiles: readonly string[]): Promise<Peer> {
  const dir = await peerDataDir('gatehouse-prometheus-');
  const conf = join(dir, 'prometheus.yml');
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: ruleFiles,
    scrape_configs: [{ job_name: 'gatehouse', static_configs: [{ targets }] }],
  };
  return childPeer(
    t,
    'http',
    'prometheus',
    (port) => [`--config.file=${conf}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
    // JSON is YAML: no YAML library needed for the peer's config
    () => writeFile(conf, JSON.stringify(config)),
    dir,
  );
}

/**
 * InfluxDB 1.x (Debian's `influxdb` package, influxd) on a free port, its meta, data and WAL in a
 * temp dir, no reporting, its RPC (backup) port left to the kernel. `url` is its HTTP API (/write, /query).
 */
export async function startInfluxdb(t: TestContext): Promise<Peer> {
  const dir = await peerDataDir('gatehouse-influxdb-');
  const conf = join(dir, 'influxdb.conf');
  const config = (port: number): string =>
    [
      'reporting-disabled = true',
      'bind-address = "127.0.0.1:0"',
      '[meta]',
      `  dir = "${dir}/meta"`,
      '[data]',
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      '  query-log-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${port}"`,
      '  log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '',
    ].join('\n');
  return childPeer(
    t,
    'http',
    'influxd',
    () => ['-config', conf],
    (port) => writeFile(conf, config(port)),
    dir,
  );
}

/**
 * Prometheus (Debian's `prometheus`) taking remote writes, with its TSDB in a temp dir (kept across down/up) and
 * `prometheusYml` as its config file (none: an empty one, no scrapes); `receiver` false starts it
 * without --web.enable-remote-write-receiver; `basicAuth`: every request needs that user (its
 * web config's basic_auth_users). Ready (and up() returns) once /-/ready says so.
 */
export async function startPrometheusReceiver(
  t: TestContext,
  options: { prometheusYml?: string; receiver?: boolean; basicAuth?: { user: string; password: string; bcrypt: string } } = {},
): Promise<Peer> {
  const dir = await peerDataDir('gatehouse-prometheus-');
  const conf = join(dir, 'prometheus.yml');
  await writeFile(conf, options.prometheusYml ?? 'global: {}\n');
  const web = join(dir, 'web.yml');
  const auth = options.basicAuth;
  // Its web config (JSON is YAML): HTTP Basic users, a bcrypt hash each.
  if (auth) await writeFile(web, JSON.stringify({ basic_auth_users: { [auth.user]: auth.bcrypt } }));
  const headers: Record<string, string> = auth ? { Authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {};
  const peer = await childPeer(
    t,
    'http',
    'prometheus',
    (port) => [
      `--config.file=${conf}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.receiver === false ? [] : ['--web.enable-remote-write-receiver']),
      ...(auth ? [`--web.config.file=${web}`] : []),
      '--log.level=warn',
    ],
    undefined,
    dir,
  );
  const ready = async (): Promise<void> => {
    await waitUntil(async () => (await fetch(`${peer.url}/-/ready`, { headers }).catch(() => undefined))?.status === 200, 'prometheus ready', 20_000, 50);
  };
  await ready();
  return {
    ...peer,
    async up() {
      await peer.up();
      await ready();
    },
    async restart() {
      await peer.restart();
      await ready();
    },
  };
}
