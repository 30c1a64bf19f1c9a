// Flood benchmark (issue 10 rows 3 and 4): a device's QoS 1 PUBACK latency on the real gateway
// (child process: `gatehouse start`, users configured, archive rule, fsync) while
//   silent     1,200 sockets are opened and left silent (no CONNECT), then the device connects
//   auth       32 parallel clients send wrong passwords (from another child process)
// Prints PUBACK p50/p99 of the device without attack and under each attack (target: p99 < 20 ms
// under attack on a quiet Pi-class machine) and the counters the broker reports.
//
// Run: node --import tsx test/bench/floods.ts [device messages per phase, default 2000]
// Figures are noisy on a shared 2-core machine; nothing is asserted.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { hashPassword } from '../../gateway/broker/index.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { connectPacket } from '../helpers/mqtt-raw.js';

const self = fileURLToPath(import.meta.url);

/** Child mode: 32 wrong-password loops against PORT until the parent says stop. */
async function attack(port: number): Promise<void> {
  let stop = false;
  let tries = 0;
  process.once('message', () => (stop = true));
  const one = (k: number): Promise<void> =>
    new Promise((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', () => s.destroy());
      s.on('connect', () => s.write(connectPacket(`atk-${k}-${tries++}`, { username: k % 2 ? 'device' : `guess${k}`, password: `wrong${tries}` })));
    });
  await Promise.all(
    Array.from({ length: 32 }, async (_, k) => {
      while (!stop) await one(k);
    }),
  );
  process.send?.({ tries }, () => process.disconnect());
}

function pct(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

async function timedPublishes(c: MqttClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await c.publishAsync('data/dev', `{"i":${i}}`, { qos: 1 });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

async function metric(adminUrl: string, name: string): Promise<string> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return (
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .map((l) => l.replace(/^gatehouse_mqtt_/, ''))
      .join(', ') || '0'
  );
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-floods-'));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nlog: { level: info }\nexporters: []\ncontrol: { enabled: false }\n` +
      `broker:\n  allowAnonymous: true\n  users:\n    - { username: device, password: ${JSON.stringify(hashPassword('right'))} }\n` +
      `rules: { version: 1, rules: [{ name: keep, sql: "SELECT * FROM 'data/#'", actions: [{ stream: { name: archive } }] }] }\n`,
  );
  const gw = await startGatewayProcess(config);
  const rows: Array<[string, number[]]> = [];
  const notes: string[] = [];
  try {
    const device = await mqtt.connectAsync(gw.mqttUrl, { reconnectPeriod: 0, clientId: 'device', username: 'device', password: 'right' });
    rows.push(['no attack', await timedPublishes(device, n)]);

    const silent: Socket[] = [];
    for (let i = 0; i < 1200; i++) {
      const s = netConnect(gw.mqttPort, '127.0.0.1');
      s.on('error', () => undefined);
      silent.push(s);
    }
    await Promise.all(silent.map((s) => once(s, 'connect').catch(() => undefined)));
    const late = await mqtt.connectAsync(gw.mqttUrl, {
      reconnectPeriod: 0,
      clientId: 'late-device',
      username: 'device',
      password: 'right',
      connectTimeout: 5000,
    });
    notes.push(
      `1,200 silent sockets: a device connecting after them got CONNACK ${late.connected ? '0x00' : 'none'}; ${await metric(gw.adminUrl, 'gatehouse_mqtt_preconnect_shed_total')}`,
    );
    rows.push(['1,200 silent sockets', await timedPublishes(late, n)]);
    await late.endAsync();
    for (const s of silent) s.destroy();

    const child = fork(self, ['attack', String(gw.mqttPort)], { stdio: 'inherit' });
    await new Promise((r) => setTimeout(r, 500)); // let the attack ramp up (a bench, not a test)
    rows.push(['32 wrong-password clients', await timedPublishes(device, n)]);
    const done = once(child, 'message');
    child.send('stop');
    const [msg] = (await done) as [{ tries: number }];
    notes.push(
      `wrong-password CONNECTs: ${msg.tries}; ${await metric(gw.adminUrl, 'gatehouse_mqtt_auth_bans_total')}; ${await metric(gw.adminUrl, 'gatehouse_mqtt_auth_banned_attempts_total')}`,
    );
    await device.endAsync();
  } finally {
    await gw.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`floods bench: device PUBACK latency, ${n} sequential QoS 1 publishes per phase, real gateway (fsync). Shared 2-core machine: noisy.`);
  for (const [name, s] of rows)
    console.log(`  ${name.padEnd(28)} p50 ${pct(s, 0.5).toFixed(2).padStart(8)} ms   p99 ${pct(s, 0.99).toFixed(2).padStart(8)} ms`);
  for (const note of notes) console.log(`  ${note}`);
  console.log(`BENCH_JSON ${JSON.stringify({ bench: 'floods', rows: rows.map(([name, s]) => ({ name, p50: pct(s, 0.5), p99: pct(s, 0.99) })) })}`);
}

if (process.argv[2] === 'attack') await attack(Number(process.argv[3]));
else await main();
