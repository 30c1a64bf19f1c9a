// The http source's promise on real parts: a 200 means the message is on disk.
// - A REAL full filesystem (a size-limited tmpfs; needs root, skipped otherwise with a message): the
//   store refuses, the source answers 503 with Retry-After and GH_STORE_DISK_FULL, every message
//   answered 200 is in the store, and posts succeed again once space returns.
// - A REAL gateway process with a rule writing to a stream, posted to by concurrent clients and
//   killed with SIGKILL mid-traffic: after a restart every message that got a 200 is in the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitUntil } from '../helpers/index.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';
import { httpRig, post } from '../helpers/http-post.js';
import { readAll } from '../helpers/store-intake.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';

const MiB = 1024 * 1024;

test('http source on a full disk: 503 + Retry-After with GH_STORE_DISK_FULL, nothing answered 200 is lost, posts succeed again once space returns', {
  skip: smallFsSkip(),
}, async (t) => {
  const root = await mountSmallFs(t, 24);
  await writeFiller(join(root, 'filler'), 12 * MiB);
  const { port, store } = await httpRig(t, { retryAfterSeconds: 3, maxBodyBytes: 64 * 1024 }, { path: join(root, 'db'), reserveBytes: 0, diskProbeMs: 50 });
  const acked = new Map<string, Buffer>();
  let refused: Awaited<ReturnType<typeof post>> | undefined;
  for (let i = 0; i < 2000 && !refused; i++) {
    const payload = randomBytes(16 * 1024); // incompressible
    const r = await post(port, `/topics/fill/${i}`, payload);
    if (r.status === 200) acked.set(`fill/${i}`, payload);
    else refused = r;
  }
  assert.ok(refused, 'the disk filled up');
  assert.ok(acked.size > 50, `some posts were answered 200 first (${acked.size})`);
  assert.equal(refused.status, 503, refused.body);
  assert.equal(refused.headers['retry-after'], '3');
  assert.equal((refused.json().error as { code: string }).code, 'GH_STORE_DISK_FULL');
  const stored = new Map((await readAll(store, 'in')).map((r) => [r.topic, r.payload]));
  let missing = 0;
  for (const [topic, payload] of acked) if (!stored.get(topic)?.equals(payload)) missing++;
  assert.equal(missing, 0, `${missing} of ${acked.size} messages answered 200 are missing`);
  await unlink(join(root, 'filler'));
  assert.ok(freeBytes(root) > 8 * MiB);
  // the store reopens by itself (disk probe): a post is taken again, within the client's retries
  await waitUntil(async () => ((await post(port, '/topics/after', 'x')).status === 200 ? true : undefined), 'a post taken again', 10_000, 50);
});

test('http source in a gateway killed with SIGKILL mid-traffic: every message answered 200 is in the stream after a restart', async (t) => {
  const dir = await tempDir(t);
  const port = await freePort(t);
  await writeFile(
    join(dir, 'rules.yaml'),
    "version: 1\nrules:\n  - name: shelly\n    sql: SELECT * FROM 'shelly/#'\n    actions: [{ stream: { name: archive } }]\n",
  );
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nrulesFile: rules.yaml\nexporters: []\nsources:\n  - type: http\n    name: devices\n    port: ${port}\n`,
  );
  const gw = await startGatewayProcess(config);
  t.after(() => gw.kill9());
  const acked = new Set<string>();
  const ignoredTopic = await post(port, '/topics/other/1', '{"n":-1}');
  assert.equal(ignoredTopic.status, 200, 'a message no rule takes is answered 200 too (nothing durable derived)');
  let stop = false;
  const client = async (c: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const body = JSON.stringify({ c, i });
      const r = await post(port, `/topics/shelly/dev${c}`, body).catch(() => undefined);
      if (r?.status === 200) acked.add(body);
      else return; // the gateway is gone
    }
  };
  const clients = Array.from({ length: 8 }, (_, c) => client(c));
  while (acked.size < 300) await new Promise((r) => setImmediate(r));
  await gw.kill9();
  stop = true;
  await Promise.all(clients);
  const again = await startGatewayProcess(config);
  t.after(() => again.kill9());
  const found = new Set<string>();
  for (let from = 1; ; ) {
    const res = (await (await fetch(`${again.adminUrl}/api/streams/archive/records?from=${from}&limit=1000`)).json()) as {
      records: Array<{ seq: number; topic: string; payload: string }>;
    };
    if (res.records.length === 0) break;
    for (const r of res.records) found.add(r.payload);
    from = res.records[res.records.length - 1]!.seq + 1;
  }
  const missing = [...acked].filter((b) => !found.has(b));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${acked.size} messages answered 200 are missing`);
  assert.ok(acked.size >= 300);
});
