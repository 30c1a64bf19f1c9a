// End to end, real parts: a data dir written by an earlier version holds the file source's state as ONE meta
// value ('src/<source>/state', made here with that version's encoder, encodeState). The gateway
// CLI resumes every file exactly at its saved offset (no line read again, none skipped), replaces
// the value with a key per file at its first commit, and a kill -9 afterwards resumes from those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, open, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { readAll } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { encodeState } from '../../gateway/pipeline/sources/file/state.js';
import { fingerprint } from '../../gateway/pipeline/sources/file/identity.js';
import type { SavedFile } from '../../gateway/pipeline/sources/file/tracker-context.js';
import { tailIntoLogsYaml } from '../helpers/logrotate.js';

const FILES = 20;
const line = (f: number, i: number): string => `f${f} line ${i}`;
const lines = (f: number, from: number, to: number): string => Array.from({ length: to - from }, (_, k) => `${line(f, from + k)}\n`).join('');

async function lastSeq(gw: GatewayProcess): Promise<number> {
  const body = (await (await fetch(`${gw.adminUrl}/api/streams`)).json()) as { streams: Array<{ name: string; lastSeq?: number }> };
  return body.streams.find((s) => s.name === 'logs')?.lastSeq ?? 0;
}

test('a v1 state (one value, earlier versions) is resumed exactly, replaced by a key per file, and a kill -9 after that resumes exactly', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t, 'gatehouse-e2e-file-state-');
  const logs = join(dir, 'logs');
  await mkdir(logs);
  // Each file holds 100 lines, of which the old state says the first 40 + f were committed.
  const saved: SavedFile[] = [];
  for (let f = 0; f < FILES; f++) {
    const path = join(logs, `app-${f}.log`);
    await writeFile(path, lines(f, 0, 100));
    const offset = Buffer.byteLength(lines(f, 0, 40 + f));
    const fh = await open(path, 'r');
    const fp = await fingerprint(fh, Math.min(1024, offset));
    await fh.close();
    const st = statSync(path);
    saved.push({ path, dev: String(st.dev), ino: String(st.ino), fp, offset, headersLeft: 0, seen: Date.now() });
  }
  const store = await openLocalStreams({ path: join(dir, 'data', 'store') }, testDeps());
  await store.putMeta('src/app/state', encodeState(saved, Date.now(), []));
  await store.close();
  const config = await writeConfig(dir, [`dataDir: ${JSON.stringify(join(dir, 'data'))}`, tailIntoLogsYaml(join(logs, '*.log'))].join('\n'));
  let expected = 0;
  for (let f = 0; f < FILES; f++) expected += 100 - (40 + f);
  let gw: GatewayProcess | undefined = await startGatewayProcess(config, [], 60_000);
  t.after(() => gw?.kill9());
  await waitUntil(async () => ((await lastSeq(gw!)) >= expected ? true : undefined), `${expected} lines read after the saved offsets`, 30_000, 20);
  // More lines while running, then kill -9 at once: what was committed is resumed from the new keys.
  for (let f = 0; f < FILES; f++) await appendFile(join(logs, `app-${f}.log`), lines(f, 100, 150));
  await waitUntil(async () => ((await lastSeq(gw!)) >= expected + 200 ? true : undefined), 'some of the new lines read', 30_000, 5);
  await gw.kill9();
  for (let f = 0; f < FILES; f++) await appendFile(join(logs, `app-${f}.log`), lines(f, 150, 160));
  expected += FILES * 60;
  gw = await startGatewayProcess(config, [], 60_000);
  await waitUntil(async () => ((await lastSeq(gw!)) >= expected ? true : undefined), `all ${expected} lines`, 30_000, 20).catch(() => undefined);
  assert.equal(await gw.stop(), 0);
  gw = undefined;

  const check = await openLocalStreams({ path: join(dir, 'data', 'store') }, testDeps());
  t.after(() => check.close());
  await check.defineStream({ name: 'logs', maxBytes: 1073741824, onFull: 'reject' });
  const streamed = (await readAll(check, 'logs')).map((r) => r.payload.toString());
  const want: string[] = [];
  for (let f = 0; f < FILES; f++) for (let i = 40 + f; i < 160; i++) want.push(line(f, i));
  const counts = new Map<string, number>();
  for (const l of streamed) counts.set(l, (counts.get(l) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([l]) => l);
  const missing = want.filter((l) => !counts.has(l));
  const extra = [...counts.keys()].filter((l) => !want.includes(l));
  assert.deepEqual({ twice: twice.slice(0, 5), missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { twice: [], missing: [], extra: [] });
  assert.equal(streamed.length, want.length);
  // Converted: the old value is gone, a key per file and the head hold the state.
  assert.equal(await check.getMeta('src/app/state'), undefined, 'the v1 value is deleted');
  const keys = await check.metaKeys!('src/app/state/');
  assert.equal(keys.length, FILES + 1, `a key per file and the head: ${keys.join(' ')}`);
  assert.ok(keys.includes('src/app/state/head'));
});
