// A stalled SD card under QoS 1 publishers: the gateway stays calm, says so, and loses nothing.
// The card is a stand-in: an LD_PRELOAD shim (test/helpers/slow-card.c) that holds every
// fsync/fdatasync of the gateway child while a file exists, then calls the real one (no SD card and
// no device-mapper dm-delay exist here; a real card stalls for seconds now and then, wear levelling
// or garbage collection). The gateway runs as `gatehouse start` (bin/gatehouse.js) with the
// default configuration (archive rule, durability fsync, the default file exporter).
// During a stall of ~6 s it must: keep every device connected (keepalive 5 s), answer /healthz and /api/overview at once, say on /healthz (503
// degraded, with what to do), on /metrics (the commit in flight's age) and in its log that the
// store's commit is stalled, and not grow with the publishes waiting for it (the devices' windows
// are unbounded here). After it: healthz ok again, and every PUBACKed message in the export files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { buildSlowCard, exportedSeqs, missingAcked, slowCardEnv, slowCardSkip, startAckedFleet } from '../helpers/slow-card.js';

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** GET a JSON route, with how long it took to answer. */
async function timedJson(url: string): Promise<{ ms: number; status: number; body: Record<string, unknown> }> {
  const t0 = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as Record<string, unknown>;
  return { ms: performance.now() - t0, status: res.status, body };
}

test('a stalled disk: devices stay connected, the admin API answers and says so, memory stays bounded, every PUBACKed message is stored', {
  skip: slowCardSkip,
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-slow-disk-');
  const so = await buildSlowCard(dir);
  const stallFile = join(dir, 'stall');
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
  const gw = await startGatewayProcess(config, [], 20_000, [], slowCardEnv(so, { baseMs: 2, stallFile }));
  t.after(() => gw.kill9());
  // keepalive 5 s: a device gives up on its own at 7.5 s without an answer (its PINGREQ waits unread
  // behind its publishes while they wait for the commit), beyond this stall; the broker must not
  const fleet = await startAckedFleet(gw.mqttUrl, 10, 2_000, 1_000_000, 5);
  t.after(() => fleet.stop(0));
  await waitUntil(() => fleet.acked >= 2_000, 'PUBACKs before the stall', 10_000);
  const rssBefore = await rssOf(gw.proc.pid!);
  const healthy = await timedJson(`${gw.adminUrl}/healthz`);
  assert.equal(healthy.status, 200, JSON.stringify(healthy.body));

  await writeFile(stallFile, '');
  const stallStart = performance.now();
  const ackedAtStall = fleet.acked;
  let rssPeak = rssBefore;
  let worstAnswerMs = 0;
  // /healthz says it once the commit has been in flight for 5 s; meanwhile it and the overview answer.
  const degraded = await waitUntil(
    async () => {
      rssPeak = Math.max(rssPeak, await rssOf(gw.proc.pid!));
      const h = await timedJson(`${gw.adminUrl}/healthz`);
      const o = await timedJson(`${gw.adminUrl}/api/overview`);
      worstAnswerMs = Math.max(worstAnswerMs, h.ms, o.ms);
      return h.status === 503 ? h : undefined;
    },
    'healthz 503 during the stall',
    15_000,
    100,
  );
  // (the commit held may have started a few ms before the stall file was made)
  assert.ok(performance.now() - stallStart >= 4_900, `degraded only after 5 s of a commit in flight, not ${(performance.now() - stallStart).toFixed(0)} ms`);
  assert.equal(degraded.body.status, 'degraded');
  assert.match(String(degraded.body.reason), /store commit in flight for \d+\.\d s: the disk has not completed a write \(fsync\)/);
  assert.match(String(degraded.body.fix), /SD card/);
  const store = degraded.body.store as { commit: { inFlightMs: number; stalled: boolean } };
  assert.equal(store.commit.stalled, true);
  assert.ok(store.commit.inFlightMs >= 5_000, JSON.stringify(store));
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  const inFlight = Number(/^gatehouse_store_commit_in_flight_seconds (\S+)$/m.exec(metrics)?.[1]);
  assert.ok(inFlight >= 5, `gatehouse_store_commit_in_flight_seconds ${inFlight}`);
  await waitUntil(() => gw.logs.find((l) => String(l.msg).startsWith('store commit stalled: in flight for')), 'the stall warning', 5_000);
  // The flush is held: nothing was acknowledged after it started but what was already committed.
  assert.ok(fleet.acked - ackedAtStall < 2_000, `acked during the stall: ${fleet.acked - ackedAtStall}`);
  assert.ok(worstAnswerMs < 1_000, `the admin API answered in ${worstAnswerMs.toFixed(0)} ms during the stall`);
  // Publishes waiting for the commit are bounded by the broker (a socket is read no more while its
  // client's commits are in flight), not held in the gateway's memory: 14,000 were offered here.
  assert.ok(rssPeak - rssBefore < 40 * 2 ** 20, `RSS grew by ${((rssPeak - rssBefore) / 2 ** 20).toFixed(1)} MiB during the stall`);

  await rm(stallFile);
  await waitUntil(async () => (await timedJson(`${gw.adminUrl}/healthz`)).status === 200, 'healthz ok after the stall', 10_000);
  const ended = await waitUntil(() => gw.logs.find((l) => String(l.msg).startsWith('store commit completed after a stall of')), 'the stall end line', 5_000);
  assert.ok(Number(ended.commitMs) >= 5_000, JSON.stringify(ended));
  await fleet.stop();
  assert.equal(fleet.closes, 0, 'no device was disconnected');
  assert.equal(fleet.errors, 0);
  assert.equal(fleet.outstanding(), 0, 'every publish was answered');

  // The export catches up; then every PUBACKed message is in the export files.
  await waitUntil(
    async () => {
      const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      return /^gatehouse_stream_backlog_records\{stream="archive",consumer="[^"]+"\} 0$/m.test(text);
    },
    'the export caught up',
    20_000,
    100,
  );
  assert.equal(await gw.stop(), 0);
  const missing = missingAcked(fleet.ackedSeqs, await exportedSeqs(join(dir, 'data', 'export')));
  assert.equal(missing.count, 0, `PUBACKed but not stored: ${missing.some.join(' ')}`);
  assert.ok(fleet.acked > 10_000, `acked ${fleet.acked}`);
});

// store.commitStallMs moved down (an industrial SSD's operator wants to know within a second): the
// same stand-in stall makes /healthz 503 after ~1 s instead of 5 s, the stall warning says so, and
// the gateway is healthy again once the disk completes the write.
test('store.commitStallMs 1000: a stalled disk makes /healthz 503 after one second, not five, and the stall line comes as soon', {
  skip: slowCardSkip,
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-slow-disk-knob-');
  const so = await buildSlowCard(dir);
  const stallFile = join(dir, 'stall');
  const config = await writeConfig(dir, `dataDir: ${JSON.stringify(join(dir, 'data'))}\nstore: { commitStallMs: 1000, slowCommitMeanMs: 50 }\n`);
  const gw = await startGatewayProcess(config, [], 20_000, [], slowCardEnv(so, { baseMs: 1, stallFile }));
  t.after(() => gw.kill9());
  const fleet = await startAckedFleet(gw.mqttUrl, 2, 200, 100, 10, 'knob');
  t.after(() => fleet.stop(0));
  await waitUntil(() => fleet.acked >= 100, 'PUBACKs before the stall', 10_000);
  assert.equal((await timedJson(`${gw.adminUrl}/healthz`)).status, 200);

  await writeFile(stallFile, '');
  const stallStart = performance.now();
  const degraded = await waitUntil(
    async () => {
      const h = await timedJson(`${gw.adminUrl}/healthz`);
      return h.status === 503 ? h : undefined;
    },
    'healthz 503 during the stall',
    10_000,
    50,
  );
  const after = performance.now() - stallStart;
  // (the commit held may have started a few ms before the stall file was made)
  assert.ok(after >= 900, `degraded only after 1 s of a commit in flight, not ${after.toFixed(0)} ms`);
  assert.ok(after < 3_500, `degraded after ${after.toFixed(0)} ms: the default 5 s threshold, not commitStallMs 1000`);
  assert.match(String(degraded.body.reason), /store commit in flight for \d+\.\d s/);
  assert.match(String(degraded.body.fix), /store\.commitStallMs/);
  const line = await waitUntil(() => gw.logs.find((l) => String(l.msg).startsWith('store commit stalled: in flight for')), 'the stall warning', 5_000);
  assert.ok(Number(line.inFlightMs) >= 1_000 && Number(line.inFlightMs) < 3_500, JSON.stringify(line));
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /# HELP gatehouse_store_commit_stalls_total Group commits that were in flight for 1 s or more/);

  await rm(stallFile);
  await waitUntil(async () => (await timedJson(`${gw.adminUrl}/healthz`)).status === 200, 'healthz ok after the stall', 10_000);
  await fleet.stop();
  assert.equal(fleet.outstanding(), 0, 'every publish was answered');
  // The export catches up (what a stop leaves in the store is exported at the next start)
  await waitUntil(
    async () => /^gatehouse_stream_backlog_records\{stream="archive",consumer="[^"]+"\} 0$/m.test(await (await fetch(`${gw.adminUrl}/metrics`)).text()),
    'the export caught up',
    20_000,
    100,
  );
  assert.equal(await gw.stop(), 0);
  const missing = missingAcked(fleet.ackedSeqs, await exportedSeqs(join(dir, 'data', 'export')));
  assert.equal(missing.count, 0, `PUBACKed but not exported: ${missing.some.join(' ')}`);
});
