// Run the real gateway CLI in a child process (so tests can kill -9 it), and find its ports from
// its own start-up log line instead of guessing.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import mqtt from 'mqtt';
import { repoRoot, compiled, tempDir, waitForEvent, withTimeout } from './index.js';

export interface GatewayProcess {
  proc: ChildProcess;
  mqttPort: number;
  adminPort: number;
  mqttUrl: string;
  adminUrl: string;
  /** Every log line seen so far (parsed pino JSON). */
  logs: Array<Record<string, unknown>>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** A `gatehouse start` child and its log so far, not waited for (it may wait for space, or be held). */
export interface SpawnedGateway {
  proc: ChildProcess;
  /** Every log line seen so far (parsed pino JSON; a line that is not JSON as `msg`, stderr as `stderr: ...`). */
  logs: Array<Record<string, unknown>>;
  /** The exit code (null: ended by a signal). */
  exited: Promise<number | null>;
  msgs(): string[];
}

/** `gatehouse start --config <config>` on free ports (node run with `nodeArgs`), without waiting for 'gatehouse started'. */
export function spawnGatewayLogged(config: string, nodeArgs: string[] = [], env: Record<string, string> = {}): SpawnedGateway {
  const { cmd, args } = cliCommand();
  const proc = spawn(cmd, [...nodeArgs, ...args, 'start', '--config', config, '--mqtt-port', '0', '--admin-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  const logs: Array<Record<string, unknown>> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  proc.stderr!.on('data', (d: Buffer) => logs.push({ msg: `stderr: ${d.toString()}` }));
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  return { proc, logs, exited, msgs: () => logs.map((l) => String(l.msg)) };
}

/** Command to run the CLI: compiled JS under dist/, or the TS sources through tsx. */
export function cliCommand(): { cmd: string; args: string[] } {
  if (compiled) return { cmd: process.execPath, args: [join(repoRoot, 'bin', 'gatehouse.js')] };
  return { cmd: process.execPath, args: ['--import', 'tsx', join(repoRoot, 'test', 'helpers', 'cli-entry.ts')] };
}

export async function writeConfig(dir: string, yamlText: string): Promise<string> {
  const file = join(dir, 'gatehouse.yaml');
  await writeFile(file, yamlText);
  return file;
}

/**
 * A gateway process (killed after the test) running the rule set `rulesYaml` from a rules file,
 * with no exporter, in a temp dir of its own (returned: the data dir is `dir/data`).
 */
export async function startRulesGateway(t: TestContext, rulesYaml: string): Promise<{ gw: GatewayProcess; dir: string }> {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'rules.yaml'), rulesYaml);
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\n`);
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  return { gw, dir };
}

/**
 * A client subscribed to `filters` on the gateway (QoS 1), keeping every message as [topic, parsed
 * JSON payload]; `until(n, what)` waits (15 s) until it holds n of them.
 */
export async function jsonWatcher(t: TestContext, gw: GatewayProcess, filters: string | string[]) {
  const sub = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'watcher', reconnectPeriod: 0 });
  t.after(() => sub.endAsync(true));
  await sub.subscribeAsync(filters, { qos: 1 });
  const got: Array<[string, Record<string, unknown>]> = [];
  sub.on('message', (topic, payload) => got.push([topic, JSON.parse(payload.toString()) as Record<string, unknown>]));
  const until = (n: number, what: string): Promise<void> =>
    withTimeout(
      (async () => {
        while (got.length < n)
          await waitForEvent(sub, 'message', 10_000).catch((e: Error) => Promise.reject(new Error(`${e.message}: ${JSON.stringify(got)}`)));
      })(),
      15_000,
      what,
    );
  return { got, until };
}

/**
 * Start `gatehouse start --config FILE --mqtt-port 0 --admin-port 0` and wait for its
 * 'gatehouse started' log line (timeout), which carries the bound ports. configFile undefined:
 * no --config (the default configuration; give --data-dir in extraArgs). nodeArgs go to node
 * before the CLI (e.g. --import of a loader hook); env is added to the child's environment.
 */
export async function startGatewayProcess(
  configFile: string | undefined,
  extraArgs: string[] = [],
  timeoutMs = 20_000,
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const { cmd, args } = cliCommand();
  const config = configFile === undefined ? [] : ['--config', configFile];
  const proc = spawn(cmd, [...nodeArgs, ...args, 'start', ...config, '--mqtt-port', '0', '--admin-port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...env },
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = once(proc, 'exit');
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'gatehouse started') resolve(entry);
      } catch {
        logs.push({ raw: line });
      }
    });
    exited.then(([code]) => reject(new Error(`gateway exited with ${String(code)} before starting: ${stderr}${JSON.stringify(logs.slice(-5))}`)), reject);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gateway did not start within ${timeoutMs} ms: ${stderr}${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
  });
  let entry: Record<string, unknown>;
  try {
    entry = await Promise.race([started, timeout]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const mqtt = (entry.mqtt as Array<{ port: number }>)[0]!;
  const admin = entry.admin as { port: number; tls?: boolean } | undefined;
  const waitExit = async (): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    const [code] = (await exited) as [number | null];
    return code;
  };
  return {
    proc,
    mqttPort: mqtt.port,
    adminPort: admin?.port ?? 0,
    mqttUrl: `mqtt://127.0.0.1:${mqtt.port}`,
    adminUrl: `${admin?.tls ? 'https' : 'http'}://127.0.0.1:${admin?.port ?? 0}`,
    logs,
    async kill9() {
      proc.kill('SIGKILL');
      await waitExit();
    },
    async stop() {
      proc.kill('SIGTERM');
      return waitExit();
    },
  };
}
