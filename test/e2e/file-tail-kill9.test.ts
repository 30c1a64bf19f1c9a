// End to end, real parts: the gateway CLI in a child process tails a log written by a real writer
// process, Debian's logrotate rotates it (create, then copytruncate), and the gateway is killed
// with kill -9 at random moments in between. Afterwards every line on disk must be in the stream
// exactly once: committed offsets are written in the same group commit as the records, so a
// restart neither loses nor re-reads a committed line. (copytruncate itself loses the lines
// written between its copy and its truncate; they are in no file and counted separately. Its
// copy can also end mid-line, the rest of that line being lost by the truncate: the source emits
// that tail with the partial-line marker, or the whole line if it read it before the truncation.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, testDeps, waitUntil } from '../helpers/index.js';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';
import { readAll } from '../helpers/store-intake.js';
import { openLocalStreams } from '../../gateway/store/index.js';
import { duplicatesAndMissing, linesOnDisk, logrotateBinary, rotate, startWriter, tailIntoLogsYaml, writeLogrotateConf } from '../helpers/logrotate.js';

const MARKER = ' [partial]';

/**
 * The unterminated last piece of each rotated copy (logrotate's copy ended mid-line), with the
 * whole line it was cut from: the writer's line after the copy's last complete one.
 */
async function splitTails(logs: string, live: string): Promise<Array<{ tail: string; line: string }>> {
  const tails: Array<{ tail: string; line: string }> = [];
  for (const name of await readdir(logs)) {
    if (join(logs, name) === live) continue;
    const text = await readFile(join(logs, name), 'utf8');
    const cut = text.lastIndexOf('\n');
    const tail = text.slice(cut + 1);
    if (tail.length === 0) continue;
    const lastWhole = /^w (\d+) /.exec(text.slice(text.lastIndexOf('\n', cut - 1) + 1, cut));
    const n = lastWhole ? Number(lastWhole[1]) + 1 : Number(/^w (\d+)/.exec(tail)?.[1] ?? -1);
    tails.push({ tail, line: `w ${n} ${'x'.repeat(60)}` });
  }
  return tails;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.json();
}

async function lastSeq(gw: GatewayProcess): Promise<number> {
  const body = (await getJson(`${gw.adminUrl}/api/streams`)) as { streams: Array<{ name: string; lastSeq: number }> };
  return body.streams.find((s) => s.name === 'logs')?.lastSeq ?? 0;
}

// (twice: two logrotate runs back to back, so content is rotated away again before the gateway
// may have looked at it, and the kill may come while it is being found.)
for (const [mode, twice, glob] of [
  ['create', false, '*.log'],
  ['copytruncate', false, '*.log'],
  ['create', true, '*.log'],
  ['copytruncate', true, '*.log'],
  ['create', true, 'app.log*'],
] as const) {
  const how = (twice ? ' (twice in a row)' : '') + (glob === '*.log' ? '' : `, tailing ${glob}`);
  test(`kill -9 at random moments during logrotate ${mode}${how}: every line on disk is in the stream exactly once`, { timeout: 240_000 }, async (t) => {
    const bin = logrotateBinary();
    if (!bin) return t.skip("needs 'logrotate': install the Debian package 'logrotate' (apt-get install logrotate)");
    const dir = await tempDir(t, 'gatehouse-e2e-tail-');
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'app.log');
    await writeFile(file, '');
    const config = await writeConfig(
      dir,
      [
        `dataDir: ${JSON.stringify(join(dir, 'data'))}`,
        'log: { level: info }',
        tailIntoLogsYaml(join(logs, glob), 'scanIntervalMs: 100, rotateWaitMs: 300'),
      ].join('\n'),
    );
    let gw: GatewayProcess | undefined = await startGatewayProcess(config, [], 60_000);
    const runs: GatewayProcess[] = [gw];
    t.after(() => gw?.kill9());
    const total = 30_000;
    const writer = await startWriter(t, file, total, 30);
    const conf = await writeLogrotateConf(dir, file, mode, writer.pid);
    let kills = 0;
    for (let round = 1; round <= 5; round++) {
      // Let the gateway read some, rotate, and kill it at a random moment around the rotation.
      const target = Math.floor((total * round) / 7);
      await waitUntil(async () => ((await lastSeq(gw!)) >= target * 0.8 ? true : undefined), `gateway read ${target * 0.8} lines`, 60_000, 20).catch(
        async (err: unknown) => {
          t.diagnostic(
            JSON.stringify({
              round,
              sources: await getJson(`${gw!.adminUrl}/api/sources`),
              logs: runs.map((r) => r.logs.filter((l) => (l.source !== undefined && l.c !== 'rules') || (l.level as number) > 40)),
            }),
          );
          throw err;
        },
      );
      const killAfter = Math.floor(Math.random() * 150);
      const killing = new Promise<void>((resolve) => setTimeout(() => void gw!.kill9().then(resolve), killAfter));
      rotate(bin, dir, conf);
      if (twice) rotate(bin, dir, conf);
      await killing;
      kills++;
      gw = await startGatewayProcess(config, [], 60_000);
      runs.push(gw);
    }
    await writer.done;
    const onDisk = await linesOnDisk(logs);
    // Every line on disk read: lastSeq alone is not enough (lines copytruncate lost may have been
    // read too, so the count of lines on disk is reached before the last ones are read): wait until
    // the source tracks only the live file (rotated copies drained and retired) with nothing unread.
    // (On a timeout the check below says which lines are missing.)
    await waitUntil(
      async () => {
        if ((await lastSeq(gw!)) < onDisk.length) return undefined;
        const body = (await getJson(`${gw!.adminUrl}/api/sources`)) as {
          sources: Array<{ kind: string; name: string; details?: { files?: Array<{ path: string; lagBytes: number }> } }>;
        };
        const files = body.sources.find((s) => s.kind === 'file' && s.name === 'app')?.details?.files ?? [];
        return files.length === 1 && files[0]!.path === file && files[0]!.lagBytes === 0 ? true : undefined;
      },
      `all ${onDisk.length} lines on disk read`,
      60_000,
      50,
    ).catch(() => undefined);
    const sources = (await getJson(`${gw.adminUrl}/api/sources`)) as {
      sources: Array<{ kind: string; name: string; details?: { files?: Array<{ path: string; lagBytes: number }> } }>;
    };
    const app = sources.sources.find((s) => s.kind === 'file' && s.name === 'app');
    if ((await lastSeq(gw)) < onDisk.length) {
      const { readdir: rd, readFile: rf } = await import('node:fs/promises');
      const files = [];
      for (const n of await rd(logs)) {
        const lines = (await rf(join(logs, n), 'utf8')).split('\n');
        files.push({
          n,
          lines: lines.length - 1,
          first: lines[0]?.slice(0, 8),
          last: lines[lines.length - 2]?.slice(0, 8),
          partial: lines[lines.length - 1]!.length,
        });
      }
      t.diagnostic(JSON.stringify({ files }));
      // What each run of the gateway decided about the files (resume, rotation, truncation).
      t.diagnostic(
        JSON.stringify({ status: app, logs: runs.map((r) => r.logs.filter((l) => (l.source !== undefined && l.c !== 'rules') || (l.level as number) > 40)) }),
      );
    }
    assert.ok(
      app?.details?.files?.some((f) => f.path === file),
      'the tailed file is in /api/sources',
    );
    assert.equal(await gw.stop(), 0);
    gw = undefined;

    const store = await openLocalStreams({ path: join(dir, 'data', 'store') }, testDeps());
    await store.defineStream({ name: 'logs', maxBytes: 1073741824, onFull: 'reject' });
    const streamed = (await readAll(store, 'logs')).map((r) => r.payload.toString());
    await store.close();
    const check = duplicatesAndMissing(streamed, onDisk);
    const written = new Set(Array.from({ length: total }, (_, i) => `w ${i} ${'x'.repeat(60)}`));
    // A copy's split tail T is read once as T + marker, or as the whole line read before the truncation.
    const tails = await splitTails(logs, file);
    const seen = new Set(streamed);
    for (const { tail, line } of tails) {
      const ways = (seen.has(tail + MARKER) ? 1 : 0) + streamed.filter((l) => l === line).length;
      if (ways > 1) check.duplicates += ways - 1;
      if (ways > 0) check.missing = check.missing.filter((l) => l !== tail);
    }
    if (check.duplicates > 0) {
      // Which lines came twice, and from which run: says which resume decision re-read them.
      const counts = new Map<string, number>();
      for (const l of streamed) counts.set(l, (counts.get(l) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1).map(([l]) => l.slice(0, 8));
      t.diagnostic(JSON.stringify({ twice: twice.slice(0, 5), lastTwice: twice.slice(-5), count: twice.length, tails }));
      t.diagnostic(JSON.stringify({ logs: runs.map((r) => r.logs.filter((l) => (l.source !== undefined && l.c !== 'rules') || (l.level as number) > 40)) }));
    }
    // Lines copytruncate lost on disk may still have been read from the file before its truncation.
    const tailSet = new Set(tails.map((x) => x.tail));
    check.extra = check.extra.filter((l) => !written.has(l) && !(l.endsWith(MARKER) && tailSet.has(l.slice(0, -MARKER.length))));
    if (check.extra.length > 0) {
      // A fragment (partial marker) or a line no writer wrote: what each run decided says where it came from.
      t.diagnostic(JSON.stringify({ extra: check.extra.slice(0, 5), tails }));
      t.diagnostic(JSON.stringify({ logs: runs.map((r) => r.logs.filter((l) => (l.source !== undefined && l.c !== 'rules') || (l.level as number) > 40)) }));
    }
    const onDiskSet = new Set(onDisk);
    const lost = [...written].filter((l) => !onDiskSet.has(l)).length;
    t.diagnostic(
      `${mode}: ${kills} kill -9, ${total} written, ${onDisk.length} on disk (${lost} lost by copytruncate itself, ${tails.length} split), ${streamed.length} streamed, ${check.duplicates} duplicates`,
    );
    assert.deepEqual({ missing: check.missing.slice(0, 5), extra: check.extra.slice(0, 5) }, { missing: [], extra: [] });
    if (glob === '*.log') assert.equal(check.duplicates, 0, 'duplicates');
    else {
      // With app.log* the rotated names are matched too: a file logrotate moves on (app.log.1 to
      // app.log.2) while the source looks for it must not be read again from 0. At-least-once is
      // the contract; a whole rotated file is about total / 7 = 4,285 lines (one round), so a tenth
      // of that tells a whole-file re-read (4,100 to 4,300 duplicates seen) from a few lines
      // around a kill -9.
      assert.ok(check.duplicates < Math.floor(total / 70), `${check.duplicates} duplicates: a rotated file read twice`);
    }
  });
}
