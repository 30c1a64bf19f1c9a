// The MQTT bridge (`mqtt` destination) over a slow uplink: the gateway (the CLI, a child process)
// exports a backlog of N records to mosquitto through a TCP proxy in this process that carries the
// gateway's bytes at --bps (a cellular or satellite uplink; what it cannot send yet waits in its
// queue, as in a modem's buffer), the broker's answers at once. A checker subscribed on mosquitto
// (chaos-upstream-mqtt.ts) counts what arrives. Run once per --ack-timeouts value.
// Printed per run: when every record had arrived (or how many by --max-seconds), the PUBLISHes the
// link carried per record, the records the exporter counted as exported. A send whose PUBLISHes
// still wait in the link's queue when ackTimeoutMs runs out is resent behind them: the link then
// carries both copies, and the PUBACKs of the first come for publishes the bridge no longer waits
// for (docs/destinations.md, "A slow uplink").
// Not in `npm run bench` (minutes):
//
//   npm run -s build && node dist/test/bench/mqtt-slow-uplink.js --bps 5000 --records 600 --size 1000 --ack-timeouts 10000,60000
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { freePort } from '../helpers/index.js';
import { SlowLink } from '../helpers/slow-link.js';
import { writeConfig } from '../helpers/gateway-process.js';
import { Gateway, exporterStatus } from './chaos-gateway.js';
import { MqttUpstream } from './chaos-upstream-mqtt.js';
import { sleep } from './chaos-load.js';

async function run(o: { bps: number; records: number; size: number; ackTimeoutMs: number; maxSeconds: number }): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'gatehouse-slow-uplink-'));
  const up = await MqttUpstream.create({ id: o.records + 10 }, Math.random, work);
  if (typeof up === 'string') return up;
  await up.up();
  const link = new SlowLink(up.port, o.bps);
  const linkPort = await freePort();
  await link.listen(linkPort);
  const destination = { ...up.destination(), url: `mqtt://127.0.0.1:${linkPort}`, ackTimeoutMs: o.ackTimeoutMs, keepaliveSec: 30, connectTimeoutMs: 10_000 };
  const config = await writeConfig(
    work,
    JSON.stringify({
      dataDir: join(work, 'data'),
      rules: { version: 1, rules: [{ name: 'all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }] },
      exporters: [{ name: 'upstream', stream: 'archive', destination }],
    }),
  );
  const mqttPort = await freePort();
  const g = new Gateway(config, ['--mqtt-port', String(mqttPort), '--admin-port', String(await freePort())], Date.now());
  await g.start();
  // The backlog first (the bridge still sends as records come), then the clock.
  const pub = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'slow-uplink-pub' });
  await new Promise<void>((r) => pub.once('connect', () => r()));
  const pad = 'x'.repeat(Math.max(0, o.size - 30));
  const t0 = Date.now();
  for (let i = 0; i < o.records; i++) await pub.publishAsync('dev/1', JSON.stringify({ id: i, p: pad }), { qos: 1 });
  await pub.endAsync();
  const distinct = (): number => {
    let n = 0;
    for (let i = 0; i < o.records; i++) if (up.count('id', i) > 0) n++;
    return n;
  };
  let seen = 0;
  let allAt: number | undefined;
  while (Date.now() - t0 < o.maxSeconds * 1000) {
    await sleep(1000);
    seen = distinct();
    if (seen === o.records) {
      allAt = (Date.now() - t0) / 1000;
      break;
    }
  }
  const st = await exporterStatus(g).catch(() => undefined);
  const carried = up.records;
  await g.stop();
  await link.close();
  await up.down();
  await rm(work, { recursive: true, force: true });
  const best = (o.records * o.size) / o.bps;
  return (
    `ackTimeoutMs ${o.ackTimeoutMs}: ${allAt !== undefined ? `all ${o.records} records in ${allAt.toFixed(0)} s` : `${seen} of ${o.records} records in ${o.maxSeconds} s`} ` +
    `(the link's best: ${best.toFixed(0)} s); ${carried} PUBLISHes arrived, ${(carried / Math.max(1, seen)).toFixed(2)} per record; exporter counted ${st?.exportedRecords ?? '?'} exported`
  );
}

const { values } = parseArgs({
  options: {
    bps: { type: 'string', default: '5000' },
    records: { type: 'string', default: '600' },
    size: { type: 'string', default: '1000' },
    'ack-timeouts': { type: 'string', default: '10000,60000' },
    'max-seconds': { type: 'string', default: '240' },
  },
});
console.log(
  `mqtt-slow-uplink: ${values.records} records of ${values.size} B through a ${values.bps} B/s uplink (answers at once), default batch (maxRecords 200)`,
);
for (const t of values['ack-timeouts'].split(',').map(Number)) {
  console.log(
    await run({
      bps: Number(values.bps),
      records: Number(values.records),
      size: Number(values.size),
      ackTimeoutMs: t,
      maxSeconds: Number(values['max-seconds']),
    }),
  );
}
// A stray handle (a client's reconnect timer) must not keep a finished run alive.
process.exit(0);
