// Disk full, end to end, on a REAL small filesystem (a size-limited tmpfs holding the data dir;
// needs root, skipped otherwise): the real gateway (child process) with the default file
// exporter, QoS 1 publishers until the filesystem fills, then space freed. The promise: every
// PUBACKed message is in the export after recovery (duplicates allowed), the export holds nothing
// that was not published, no truncated line; while full no PUBACK, /healthz 503 with the reason,
// gatehouse_store_writable 0, one log line per state change; recovery without a restart.
// Run twice: with a reserve (appends stop before the disk is full) and with reserveBytes 0 (the
// disk really fills: LevelDB and the export file hit ENOSPC, the store reopens itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir, waitForEvent, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { freeBytes, mountSmallFs, smallFsSkip, writeFiller } from '../helpers/small-fs.js';

const skip = smallFsSkip();
const MiB = 1024 * 1024;
const PAD = 'x'.repeat(1200);

interface Tally {
  sent: Set<string>;
  acked: Set<string>;
}

/** One QoS 1 publisher, `window` publishes in flight, until its connection is closed or `stop`. */
async function publisher(url: string, name: string, tally: Tally, stop: { now: boolean }, window = 20): Promise<'closed' | 'stopped'> {
  const client = await mqtt.connectAsync(url, { clientId: name, reconnectPeriod: 0, clean: true });
  let i = 0;
  let inflight = 0;
  return new Promise((resolve) => {
    let done = false;
    const finish = (why: 'closed' | 'stopped'): void => {
      if (done) return;
      done = true;
      client.end(true);
      resolve(why);
    };
    client.on('close', () => finish('closed'));
    const pump = (): void => {
      while (!done && !stop.now && inflight < window) {
        const id = `${name}:${i++}`;
        tally.sent.add(id);
        inflight++;
        client.publish('fleet/disk', JSON.stringify({ id, pad: PAD }), { qos: 1 }, (err) => {
          inflight--;
          if (!err) tally.acked.add(id);
          if (stop.now) finish('stopped');
          else if (!done) pump();
        });
      }
      if (stop.now) finish('stopped');
    };
    pump();
  });
}

async function exported(dir: string): Promise<{ ids: string[]; bad: number }> {
  const ids: string[] = [];
  let bad = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return { ids, bad };
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    const text = await readFile(join(e.parentPath, e.name), 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) bad++;
    for (const l of text.split('\n')) {
      if (!l) continue;
      try {
        ids.push((JSON.parse(l) as { payload: { id: string } }).payload.id);
      } catch {
        bad++;
      }
    }
  }
  return { ids, bad };
}

async function health(gw: GatewayProcess): Promise<{ status: number; body: { reason?: string; store?: { condition: string } } }> {
  const res = await fetch(`${gw.adminUrl}/healthz`);
  return { status: res.status, body: (await res.json()) as { reason?: string } };
}

for (const reserve of [4 * MiB, 0]) {
  test(`disk full end to end (store.reserveBytes ${reserve}): every PUBACKed message exported after recovery`, { skip, timeout: 240_000 }, async (t) => {
    const root = await mountSmallFs(t, 40);
    const dataDir = join(root, 'data');
    const filler = join(root, 'filler');
    await writeFiller(filler, 12 * MiB);
    const dir = await tempDir(t);
    const config = await writeConfig(
      dir,
      [
        `dataDir: ${JSON.stringify(dataDir)}`,
        'log: { level: info }',
        `store: { reserveBytes: ${reserve}, diskProbeMs: 100 }`,
        // the default exporter (archive -> files under <dataDir>/export), with a short linger
        'exporters:',
        '  - { name: archive-files, stream: archive, destination: { type: file }, batch: { lingerMs: 100 } }',
        '',
      ].join('\n'),
    );
    const gw = await startGatewayProcess(config);
    t.after(() => gw.kill9());
    const tally: Tally = { sent: new Set(), acked: new Set() };

    // 1. Publish until the filesystem fills: the gateway closes every publisher's connection.
    const stop = { now: false };
    const started = Date.now();
    const outcomes = await Promise.all(Array.from({ length: 4 }, (_, k) => publisher(gw.mqttUrl, `p${k}`, tally, stop)));
    const fillSeconds = (Date.now() - started) / 1000;
    assert.deepEqual(outcomes, ['closed', 'closed', 'closed', 'closed'], 'every publisher was refused (connection closed)');
    const ackedWhileFilling = tally.acked.size;

    // 2. While full: healthz 503 with the reason, the metric, and no PUBACK for a new publish.
    const h = await waitUntil(
      async () => {
        const r = await health(gw);
        return r.status === 503 ? r : undefined;
      },
      '/healthz says 503',
      10_000,
      50,
    );
    assert.match(h.body.reason ?? '', /store not writable/);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.match(metrics, /^gatehouse_store_writable 0$/m);
    const probe = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'probe', reconnectPeriod: 0 });
    let probeAcked = false;
    probe.publish('fleet/disk', JSON.stringify({ id: 'probe:0', pad: '' }), { qos: 1 }, (err) => {
      if (!err) probeAcked = true;
    });
    tally.sent.add('probe:0');
    // (On a timeout, say what the gateway did instead: one unexplained case in ~13 loaded runs.)
    await waitForEvent(probe, 'close', 10_000).catch(async (err: unknown) => {
      const now = await health(gw).catch(() => undefined);
      throw new Error(
        `${String(err)}; probe acknowledged: ${probeAcked}; healthz now ${now?.status} ${now?.body.reason ?? ''}; last log lines: ${JSON.stringify(gw.logs.slice(-6))}`,
      );
    });
    probe.end(true);
    assert.equal(probeAcked, false, 'no PUBACK while the disk is full');

    // 3. Free space: the gateway recovers by itself (no restart).
    const freeWhenFull = freeBytes(root);
    await unlink(filler);
    const recoveredAt = Date.now();
    await waitUntil(async () => (await health(gw)).status === 200, '/healthz says 200 again', 30_000, 50);
    const recoverMs = Date.now() - recoveredAt;

    // 4. Publishing works again, every publish acknowledged.
    const client = await mqtt.connectAsync(gw.mqttUrl, { clientId: 'after', reconnectPeriod: 0 });
    for (let i = 0; i < 500; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const id = `after:${i + j}`;
          tally.sent.add(id);
          return client.publishAsync('fleet/disk', JSON.stringify({ id, pad: 'y' }), { qos: 1 }).then(() => tally.acked.add(id));
        }),
      );
    }
    await client.endAsync();

    // 5. Every acknowledged message reaches the export (the exporter retried what the full disk refused).
    const exportDir = join(dataDir, 'export');
    await waitUntil(
      async () => {
        const got = new Set((await exported(exportDir)).ids);
        for (const id of tally.acked) if (!got.has(id)) return false;
        return true;
      },
      'every acknowledged message is exported',
      90_000,
      250,
    );
    assert.equal(await gw.stop(), 0, 'clean exit');
    const { ids, bad } = await exported(exportDir);
    const unique = new Set(ids);
    const missing = [...tally.acked].filter((id) => !unique.has(id));
    const foreign = [...unique].filter((id) => !tally.sent.has(id));
    const notAckedButExported = [...unique].filter((id) => !tally.acked.has(id)).length;
    const down = gw.logs.filter((l) => l.msg === 'store not writable: data appends are refused (no PUBACK, no serial ACK) until space returns').length;
    const up = gw.logs.filter((l) => l.msg === 'store writable again: data appends resume').length;
    console.log(
      `# disk full (reserve ${reserve}): filled in ${fillSeconds.toFixed(1)} s; sent ${tally.sent.size}, PUBACKed ${tally.acked.size} (${ackedWhileFilling} while filling), ` +
        `exported ${ids.length} lines / ${unique.size} unique (${ids.length - unique.size} duplicates, ${notAckedButExported} not PUBACKed), missing ${missing.length}, ` +
        `truncated lines ${bad}, free when full ${freeWhenFull} B, healthz 200 again ${recoverMs} ms after freeing, log lines: ${down} not-writable / ${up} writable-again`,
    );
    assert.equal(missing.length, 0, `PUBACKed but not exported: ${missing.slice(0, 5).join(', ')}`);
    assert.equal(foreign.length, 0, 'the export holds only published messages');
    assert.equal(bad, 0, 'no truncated NDJSON line');
    assert.ok(down >= 1 && up >= 1, 'one log line per state change');
    assert.ok(down - up <= 1 && up <= down, `state-change lines alternate (${down} down, ${up} up)`);
    assert.ok(tally.acked.size >= 500 + 100);
  });
}
