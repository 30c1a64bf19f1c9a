// A syslog source over a REAL store (the held intake of http-post.ts: records each message, can
// hold or refuse submits), and ways to send to it: util-linux `logger` (a real sender), raw TCP
// and UDP sockets (for what no real sender sends: faults).
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RuntimeDeps } from '../../core/deps.js';
import { syslogSourceSchema } from '../../gateway/pipeline/sources/syslog/options.js';
import { SyslogSource } from '../../gateway/pipeline/sources/syslog/source.js';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { heldIntake, type HeldIntake } from './http-post.js';
import { readAll } from './store-intake.js';
import { tempDir, testDeps } from './index.js';

export interface SyslogRig {
  source: SyslogSource;
  store: LocalStreams;
  intake: HeldIntake;
  deps: RuntimeDeps;
  dir: string;
  /** Ports taken (port 0 in the options). */
  udp: number;
  tcp: number;
  tls: number;
  relp: number;
  /** The payloads committed to the store, parsed, with their topics. */
  committed(): Promise<Array<Record<string, unknown> & { topic: string }>>;
}

/** A started source; `extra` overrides the default { udp: {port: 0}, tcp: {port: 0} }. */
export async function syslogRig(t: TestContext, extra: Record<string, unknown> = {}, more: Pick<SourceDeps, 'publish'> = {}): Promise<SyslogRig> {
  const dir = await tempDir(t, 'gatehouse-syslog-');
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'in', maxBytes: 1 << 26, onFull: 'reject' });
  const intake = heldIntake(store, 'in');
  const options = syslogSourceSchema.parse({ type: 'syslog', name: 'cabinet', udp: { port: 0 }, tcp: { port: 0 }, ...extra });
  const source = new SyslogSource(options, { ...deps, dataDir: dir, ...more });
  t.after(() => source.stop());
  await source.start(intake);
  const listening = (source.status().details as { listening: Record<string, string> }).listening;
  const port = (k: string) => Number(listening[k]?.split(':').pop() ?? 0);
  return {
    source,
    store,
    intake,
    deps,
    dir,
    udp: port('udp'),
    tcp: port('tcp'),
    tls: port('tls'),
    relp: port('relp'),
    async committed() {
      return (await readAll(store, 'in')).map((r) => ({ topic: r.topic, ...(JSON.parse(r.payload.toString()) as Record<string, unknown>) }));
    },
  };
}

const run = promisify(execFile);

/** util-linux logger to 127.0.0.1:port with these options (e.g. ['--udp', '--rfc5424']) and message. */
export async function logger(port: number, args: string[], message: string): Promise<void> {
  await run('logger', ['--server', '127.0.0.1', '--port', String(port), ...args, message], { timeout: 10_000 });
}

/** A raw TCP connection to 127.0.0.1:port, connected. */
export async function rawTcp(t: TestContext, port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  t.after(() => s.destroy());
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Send datagrams to 127.0.0.1:port. */
export async function sendUdp(port: number, datagrams: Array<string | Buffer>): Promise<void> {
  const s = createSocket('udp4');
  try {
    for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, '127.0.0.1', (err) => (err ? j(err) : r())));
  } finally {
    s.close();
  }
}
