// What a thousand reconnects leave behind, per path: runs the reconnect tests
// (test/integration/reconnect-*.test.ts: the MQTT bridge through the proxy and direct, mqtt:// and
// mqtts://; the MQTT source and the control channel through the proxy; the http destination
// (http://, https://) and kinesis through the proxy and direct; NATS across nats-server restarts)
// with RECONNECTS=N and prints their readings at 0, N/2 and N: open fds, TCP sockets and timers
// held, listeners (process), the heap after full GCs. The gateway's parts run in the test's
// process, so are the in-process peers (the TLS front, the Firehose receiver, kinesalite: their
// heap counts too); tinyproxy, mosquitto and nats-server are children. Nothing asserted here
// beyond the tests' own bounds.
//
//   npm run build && node dist/test/bench/reconnects.js [--n 1000] [--only mqtt-bridge,http,mqtt-inbound,nats]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const n = Number(arg('n', '1000'));
const only = arg('only', 'mqtt-bridge,mqtt-inbound,http,nats').split(',');
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'integration');

console.log(`| path | at | fds | sockets | timers | listeners | heap after GC (KB) |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const name of only) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=3600000', join(dir, `reconnect-${name}.test.js`)], {
    env: { ...process.env, RECONNECTS: String(n) },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  for (const m of r.stdout.matchAll(/^# (.+) at (\d+): fds (\d+) sockets (\d+) timers (\d+) listeners (\d+) heap (\d+) KB$/gm))
    console.log(`| ${m[1]} | ${m[2]} | ${m[3]} | ${m[4]} | ${m[5]} | ${m[6]} | ${m[7]} |`);
  const failed = /^# fail (\d+)/m.exec(r.stdout)?.[1];
  console.error(
    `reconnect-${name}: ${Math.round((Date.now() - started) / 1000)} s, ${failed ?? '?'} failed${
      failed !== '0'
        ? `\n${r.stdout
            .split('\n')
            .filter((l) => /not ok|error:/.test(l))
            .join('\n')}`
        : ''
    }`,
  );
}
