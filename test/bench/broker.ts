// Broker benchmark: bare aedes vs the Gatehouse broker with an onPublish that resolves at once.
// The broker runs in a child process (so its peak RSS is its own and the load generator does not
// share its event loop); the load generator (runMqttFleet: 10 publishers, 200-byte JSON) runs here.
// Run: node --import tsx test/bench/broker.ts [seconds per run, default 3]
// Figures are noisy on a shared 2-core machine; nothing is asserted.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Aedes } from 'aedes';
import { createBroker } from '../../gateway/broker/index.js';
import { runMqttFleet } from '../../gateway/simulate/mqtt-fleet.js';

type Variant = 'bare' | 'gatehouse' | 'gatehouse-sync';
type ToParent = { port: number } | { maxRssMiB: number };

async function serve(variant: Variant): Promise<void> {
  let port: number;
  if (variant === 'bare') {
    const aedes = await Aedes.createBroker();
    const server = createServer({ noDelay: true }, aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  } else {
    const broker = await createBroker(
      // the broker's capacity: no per-client publish rate limit (10 publishers flat out exceed it)
      { listeners: [{ host: '127.0.0.1', port: 0 }], maxConnections: 100, maxPublishRatePerClient: 0, maxPublishBytesPerSecPerClient: 0 },
      {
        logger: pino({ level: 'warn' }),
        registry: new Registry(),
        // 'gatehouse': a promise per message (the durable path's shape); 'gatehouse-sync': undefined (ack at once)
        onPublish: variant === 'gatehouse' ? () => Promise.resolve() : () => undefined,
      },
    );
    await broker.start();
    port = broker.addresses()[0]!.port;
  }
  process.send!({ port } satisfies ToParent);
  process.on('message', (m: string) => {
    if (m === 'rss') process.send!({ maxRssMiB: process.resourceUsage().maxRSS / 1024 } satisfies ToParent);
    if (m === 'exit') process.exit(0);
  });
}

async function ask<T extends ToParent>(child: ChildProcess, msg?: string): Promise<T> {
  const reply = once(child, 'message') as Promise<[T]>;
  if (msg) child.send(msg);
  return (await reply)[0];
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const rows: string[][] = [];
  for (const variant of ['bare', 'gatehouse', 'gatehouse-sync'] as Variant[]) {
    const child = fork(fileURLToPath(import.meta.url), ['serve', variant], { execArgv: process.execArgv });
    const { port } = await ask<{ port: number }>(child);
    for (const qos of [0, 1] as const) {
      const r = await runMqttFleet({
        url: `mqtt://127.0.0.1:${port}`,
        devices: 10,
        qos,
        payloadBytes: 200,
        ratePerDevice: 0,
        durationMs: seconds * 1000,
        prefix: `${variant}-q${qos}`,
      });
      const { maxRssMiB } = await ask<{ maxRssMiB: number }>(child, 'rss');
      rows.push([variant, String(qos), String(r.msgsPerSec), r.latencyMs.p50.toFixed(2), r.latencyMs.p99.toFixed(2), maxRssMiB.toFixed(0), String(r.errors)]);
    }
    child.send('exit');
    await once(child, 'exit');
  }
  const head = ['broker', 'qos', 'msgs/s', 'p50 ms', 'p99 ms', 'peak RSS MiB', 'errors'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(`10 publishers, 200-byte JSON, ${seconds} s per run, 64 in flight per publisher (QoS 0: msgs/s = written to socket; QoS 1: PUBACKed)`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Variant);
else await main();
