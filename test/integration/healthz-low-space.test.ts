// A store under its reserve of free space (store.reserveBytes): /healthz and `gatehouse status`
// say what to do (what to free, where, how much), as the store's error line and the refused
// appends' GH_STORE_DISK_FULL do: the reason alone ('store not writable (low-space): ...') left a
// monitor's reader to guess. The real in-process gateway on a real size-limited tmpfs (needs root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { unlink, writeFile } from 'node:fs/promises';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../gateway/config/index.js';
import { startGateway } from '../../gateway/runtime/index.js';
import { main } from '../../gateway/cli/main.js';
import { runCaptured } from '../helpers/cli-capture.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const MiB = 1024 * 1024;

test('low space: /healthz (503) and gatehouse status give the fix with the reason, and drop it once space returns', { skip: smallFsSkip() }, async (t) => {
  const root = await mountSmallFs(t, 16);
  const dir = await tempDir(t);
  const file = join(dir, 'g.yaml');
  const dataDir = join(root, 'data');
  await writeFile(file, `dataDir: ${JSON.stringify(dataDir)}\nstore: { reserveBytes: ${3 * MiB}, diskProbeMs: 50, ballastBytes: 0 }\n`);
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    version: 'test',
  });
  t.after(() => gw.stop());
  const admin = `http://127.0.0.1:${gw.admin!.address().port}`;
  const healthz = async () => {
    const res = await fetch(`${admin}/healthz`);
    return { status: res.status, body: (await res.json()) as { reason?: string; fix?: string } };
  };
  assert.equal((await healthz()).status, 200);
  assert.equal((await healthz()).body.fix, undefined, 'no fix while healthy');

  const filler = join(root, 'filler');
  await writeFiller(filler, freeBytes(root) - 2 * MiB);
  await waitUntil(() => gw.streams.diskState!().writable === false, 'the store under its reserve', 10_000);
  const down = await healthz();
  assert.equal(down.status, 503);
  assert.match(down.body.reason ?? '', /^store not writable \(low-space\): /);
  // Where (the store's filesystem), how much (the free bytes it resumes at), or what else (the reserve).
  const fix = `free space on the filesystem of ${join(dataDir, 'store')} (the gateway resumes by itself once at least ${3 * MiB + (3 * MiB) / 8} bytes are free), or lower store.reserveBytes`;
  assert.equal(down.body.fix, fix);

  const status = await runCaptured(main, ['status', '--admin', admin]);
  assert.equal(status.code, 1, status.err);
  const lines = status.out.split('\n');
  assert.match(lines[0] ?? '', /: degraded, up \d+s: store not writable \(low-space\): /);
  assert.equal(lines[1], `  what to do: ${fix}`);

  await unlink(filler);
  await waitUntil(() => gw.streams.diskState!().writable, 'the store writable again', 10_000);
  const up = await healthz();
  assert.equal(up.status, 200);
  assert.equal(up.body.fix, undefined);
  assert.doesNotMatch((await runCaptured(main, ['status', '--admin', admin])).out, /what to do/);
});
