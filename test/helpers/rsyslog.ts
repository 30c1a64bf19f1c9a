// rsyslog as a real syslog sender for tests (Debian `rsyslog`): rsyslogd -n with a private config
// taking lines from util-linux logger over TCP, and forwarding them by the action a test gives
// (omfwd TCP/TLS, omrelp); a gateway process with a syslog source archiving what it takes; the
// sequence numbers that reached its archive stream.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, waitUntil } from './index.js';
import { restartablePort } from './ports.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from './gateway-process.js';

/** rsyslogd -n with this config body (its work directory and input on `inPort` added), stopped after the test. */
export async function rsyslogd(t: TestContext, dir: string, inPort: number, action: string): Promise<ChildProcess> {
  const work = join(dir, 'rsyslog-work');
  await mkdir(work, { recursive: true });
  const conf = join(dir, 'rsyslog.conf');
  await writeFile(
    conf,
    `global(workDirectory="${work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="${inPort}")
${action}
`,
  );
  const proc = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
  });
  t.diagnostic(`rsyslogd pid ${proc.pid}`);
  await waitUntil(
    () => (proc.exitCode !== null ? Promise.reject(new Error(`rsyslogd exited: ${stderr}`)) : existsSync(join(dir, 'rsyslogd.pid'))),
    'rsyslogd started',
    10_000,
  );
  return proc;
}

/** A logger sending each line written to it to rsyslog's input, over one TCP connection. */
export function lineSender(t: TestContext, inPort: number): { send(line: string): void; close(): Promise<void> } {
  const proc = spawn('logger', ['--tcp', '--server', '127.0.0.1', '--port', String(inPort), '-t', 'seq', '--rfc5424'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return {
    send: (line) => proc.stdin!.write(`${line}\n`),
    close: () =>
      new Promise((r) => {
        proc.once('exit', () => r());
        proc.stdin!.end();
      }),
  };
}

export async function syslogGateway(dir: string, syslog: string): Promise<GatewayProcess> {
  await writeFile(
    join(dir, 'rules.yaml'),
    "version: 1\nrules:\n  - name: all\n    sql: SELECT * FROM 'syslog/#'\n    actions: [{ stream: { name: archive } }]\n",
  );
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\nsources:\n  - ${syslog}\n`);
  return startGatewayProcess(config);
}

/** The `n=<seq>` of every record in the archive stream. */
export async function archived(gw: GatewayProcess): Promise<number[]> {
  const out: number[] = [];
  for (let from = 1; ; ) {
    const res = (await (await fetch(`${gw.adminUrl}/api/streams/archive/records?from=${from}&limit=1000`)).json()) as {
      records: Array<{ seq: number; payload: string }>;
    };
    if (res.records.length === 0) return out;
    for (const r of res.records) {
      const m = /n=(\d+)/.exec(String((JSON.parse(r.payload) as { message?: string }).message));
      if (m) out.push(Number(m[1]));
    }
    from = res.records[res.records.length - 1]!.seq + 1;
  }
}

export const missing = (got: number[], n: number): number[] => {
  const have = new Set(got);
  return Array.from({ length: n }, (_, i) => i).filter((i) => !have.has(i));
};

/**
 * A message every 5 ms from logger through rsyslogd (the `action` given the gateway's port) to a
 * gateway process with this syslog source (`${port}` in it replaced), interrupted mid-flow (a clean
 * stop, or a kill -9) while rsyslog keeps getting messages, started again; resolves once every
 * message sent is in the archive stream (rejects naming the missing ones).
 */
export async function flowAcrossRestart(
  t: TestContext,
  o: { syslog: string; action: string; interrupt: 'stop' | 'kill9' },
): Promise<{ total: number; before: number; records: number }> {
  const dir = await tempDir(t, 'gatehouse-rsyslog-');
  const [gwPort, inPort] = [await restartablePort(t), await restartablePort(t)];
  const syslog = o.syslog.replaceAll('${port}', String(gwPort));
  let gw = await syslogGateway(dir, syslog);
  t.after(() => gw.kill9());
  await rsyslogd(t, dir, inPort, o.action.replaceAll('${port}', String(gwPort)));
  const sender = lineSender(t, inPort);
  let n = 0;
  const flow = setInterval(() => sender.send(`n=${n++}`), 5);
  t.after(() => clearInterval(flow));
  await waitUntil(async () => (await archived(gw)).length >= 100, 'the flow reaches the stream', 15_000, 50);
  if (o.interrupt === 'kill9') await gw.kill9();
  else if ((await gw.stop()) !== 0) throw new Error('the gateway did not stop cleanly mid-flow');
  const before = n;
  // sent while the gateway is down: rsyslog queues them
  await waitUntil(() => n >= before + 200, 'more sent while the gateway is down', 10_000, 20);
  gw = await syslogGateway(dir, syslog);
  await waitUntil(() => n >= before + 400, 'more sent after the start', 10_000, 20);
  clearInterval(flow);
  const total = n;
  await sender.close();
  const got = await waitUntil(
    async () => {
      const g = await archived(gw);
      return missing(g, total).length === 0 ? g : undefined;
    },
    'every message sent reaches the stream (rsyslog retries)',
    45_000,
    250,
  ).catch(async (e: Error) => {
    throw new Error(`${e.message}; missing: ${JSON.stringify(missing(await archived(gw), total).slice(0, 50))}`);
  });
  return { total, before, records: got.length };
}
