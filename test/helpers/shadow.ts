// The Device Shadow tests' rig: a real in-process gateway (broker, store, rules) from a YAML text,
// and mqtt.js clients (3.1.1 or 5) that keep every message they get, to wait for the next one on
// a topic and read it as JSON.
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { tempDir, testDeps } from './index.js';

export interface ShadowGateway {
  gw: Gateway;
  url: string;
  registry: Registry;
  dir: string;
}

/** A gateway with `yaml` (dataDir, no exporters and free ports added). */
export async function startShadowGateway(t: TestContext, yaml = ''): Promise<ShadowGateway> {
  const dir = await tempDir(t, 'gatehouse-shadow-');
  const file = join(dir, 'g.yaml');
  await writeFile(file, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters: []\n${yaml}`);
  const config = await loadConfig(file, { mqttPort: 0, adminPort: 0 });
  const registry = createMetricsRegistry('test', 'gw-shadow');
  const gw = await startGateway(config, { logger: testDeps().logger, registry, version: 'test' });
  t.after(() => gw.stop());
  return { gw, url: `mqtt://127.0.0.1:${gw.broker.addresses()[0]!.port}`, registry, dir };
}

export interface Device {
  c: MqttClient;
  /** Every message so far: [topic, payload text]. */
  got: Array<[string, string]>;
  /** The next message on `topic` (after those already taken), parsed; fails after 5 s. */
  next(topic: string): Promise<Record<string, unknown>>;
  /** Publish at QoS 1 (resolves on the PUBACK). */
  send(topic: string, payload: string | Buffer | object): Promise<void>;
}

export async function device(t: TestContext, url: string, opts: IClientOptions = {}): Promise<Device> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  t.after(() => c.endAsync(true));
  const got: Array<[string, string]> = [];
  const taken = new Map<string, number>();
  const waiters: Array<() => void> = [];
  c.on('message', (topic, payload) => {
    got.push([topic, payload.toString()]);
    for (const w of waiters.splice(0)) w();
  });
  const take = (topic: string): string | undefined => {
    const seen = taken.get(topic) ?? 0;
    const all = got.filter(([tp]) => tp === topic);
    if (all.length <= seen) return undefined;
    taken.set(topic, seen + 1);
    return all[seen]![1];
  };
  return {
    c,
    got,
    next: (topic) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing more on ${topic} within 5 s; got ${JSON.stringify(got.map(([tp]) => tp))}`)), 5000);
        const check = (): void => {
          const p = take(topic);
          if (p === undefined) {
            waiters.push(check);
            return;
          }
          clearTimeout(timer);
          resolve(JSON.parse(p) as Record<string, unknown>);
        };
        check();
      }),
    send: async (topic, payload) => {
      await c.publishAsync(topic, typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload), { qos: 1 });
    },
  };
}

/** An epoch-seconds timestamp of now (the answers' `timestamp`, metadata's leaves). */
export function assertSeconds(v: unknown, what: string): void {
  const now = Date.now() / 1000;
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v - now) > 60) throw new Error(`${what}: ${String(v)} is not epoch seconds of now`);
}
