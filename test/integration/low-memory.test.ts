// The gateway as installed (bin/gatehouse.js's #! line) under a hard memory limit, as a systemd
// MemoryMax= or a 512 MB Pi's neighbours set it: a cgroup v1 child of this process's own with 128
// MiB (test/helpers/cgroup.ts), 10 s of QoS 1 flat out from 5 devices into the default archive rule
// and an HTTP exporter (test/helpers/firehose-receiver.ts). Asserts no OOM kill (the limit was
// reached or not: the kernel's own count), every PUBACKed message received upstream, and the start
// log naming the limit and V8's heap limit. Skipped with the reason where a memory cgroup cannot be
// made (cgroup v2, no write access). The figures per limit and load are test/bench/low-memory.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { makeMemoryCgroup, memoryCgroupUnavailable, spawnInCgroup } from '../helpers/cgroup.js';
import { startFirehoseReceiver } from '../helpers/firehose-receiver.js';
import { freePort, repoRoot, tempDir, waitUntil } from '../helpers/index.js';
import { launcherOf } from '../bench/launcher.js';

const LIMIT_MIB = 128;
const FLOOD_MS = 10_000;

test(`under a ${LIMIT_MIB} MiB memory limit a QoS 1 flood is taken without an OOM kill, and every PUBACKed message reaches upstream`, async (t) => {
  const why = memoryCgroupUnavailable();
  if (why) {
    t.skip(`no memory cgroup can be made here: ${why}`);
    return;
  }
  const dir = await tempDir(t);
  const rx = await startFirehoseReceiver({ recordRequests: false });
  t.after(() => rx.close());
  const received = new Set<string>();
  rx.on('accepted', (r: { records: Buffer[] }) => {
    for (const b of r.records) received.add(b.toString('utf8'));
  });
  const config = join(dir, 'gatehouse.yaml');
  await writeFile(
    config,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nexporters:\n  - { name: up, stream: archive, destination: { type: http, url: ${JSON.stringify(rx.url)} } }\n`,
  );
  const cg = makeMemoryCgroup(`gatehouse-test-${process.pid}`, LIMIT_MIB * 1024 * 1024);
  const bin = join(repoRoot, 'bin', 'gatehouse.js');
  const launcher = launcherOf(bin);
  const port = await freePort(t);
  const child = spawnInCgroup(
    cg,
    process.execPath,
    [...launcher.nodeFlags, bin, 'start', '--config', config, '--mqtt-port', String(port), '--admin-port', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '', ...launcher.env },
    },
  );
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    cg.remove();
  });
  const logs: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  await waitUntil(
    () => logs.some((l) => l.msg === 'gatehouse started') || child.exitCode !== null || child.signalCode !== null,
    'the gateway started',
    60_000,
    50,
  );
  assert.equal(child.signalCode, null, `the gateway ended by ${String(child.signalCode)} while starting`);
  const memoryLine = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('memory: '));
  assert.ok(memoryLine, 'the start log says what memory the process has');
  assert.equal(memoryLine.memoryMiB, LIMIT_MIB);
  assert.equal(memoryLine.memoryFrom, 'cgroup limit');
  assert.equal(typeof memoryLine.heapLimitMiB, 'number');

  const acked: string[] = [];
  const clients = await Promise.all(
    Array.from({ length: 5 }, (_, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `flood-${i}`, reconnectPeriod: 0 })),
  );
  t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const pad = 'x'.repeat(160);
  const end = Date.now() + FLOOD_MS;
  await Promise.all(
    clients.map(async (c, i) => {
      // a window of 50 unacknowledged publishes each (maxInflight is 100)
      let seq = 0;
      const one = async (): Promise<void> => {
        while (Date.now() < end && child.exitCode === null && child.signalCode === null) {
          const payload = JSON.stringify({ d: i, s: ++seq, pad });
          // an OOM-killed gateway never answers: the flood ends with it (asserted below)
          const done = await Promise.race([c.publishAsync(`dev/${i}/data`, payload, { qos: 1 }).then(() => true), exited.then(() => false)]);
          if (!done) return;
          acked.push(payload);
        }
      };
      await Promise.all(Array.from({ length: 50 }, one));
    }),
  );
  const stats = cg.stats();
  assert.equal(child.signalCode, null, `the gateway was ended by ${String(child.signalCode)} (cgroup: ${JSON.stringify(stats)})`);
  if (stats.oomKills >= 0) assert.equal(stats.oomKills, 0, 'no OOM kill in the cgroup');
  assert.ok(acked.length > 1000, `a flood, not a trickle: ${acked.length} PUBACKed in ${FLOOD_MS} ms`);
  await waitUntil(() => acked.every((p) => received.has(p)), `every PUBACKed message upstream (${received.size} of ${acked.length})`, 120_000, 200);
  t.diagnostic(
    `${acked.length} PUBACKed in ${FLOOD_MS} ms, cgroup peak ${(stats.maxUsage / 1048576).toFixed(0)} MiB of ${LIMIT_MIB}, failcnt ${stats.failcnt}`,
  );
  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0, 'a clean stop');
});
