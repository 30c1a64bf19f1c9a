// Chaos soak of Gatehouse's promise: an acknowledgement means the data is on disk (a QoS 1 PUBACK,
// a committed file offset), and from there it reaches upstream at least once across kill -9,
// upstream outages, full disks and rotations, with nothing silently lost.
//
// For --minutes, a seeded random schedule (--seed: the same seed gives the same schedule; timings
// on a shared machine still vary) combines, against the real gateway CLI in a child process
// (chaos-gateway.ts):
// - QoS 1 publishers (mqtt.js; --clients, half of them clean-session false) at --rate msgs/s in
//   total, each payload carrying a unique id (chaos-load.ts);
// - a log file appended to (--lines lines/s, each with a unique id) and rotated every 4-15 s
//   (rename + create, or copytruncate), tailed by a file source (--no-file to leave it out);
// - the Firehose-HTTP upstream (chaos-upstream.ts) switching every 5-25 s between healthy, flaky
//   (30% HTTP 500), stalled (requests taken and never answered; half of them stored first, so a
//   duplicate) and down (not listening);
// - kill -9 of the gateway every ~--kill-every seconds, and within 150 ms of a quarter of the
//   rotations; restarted after 0-3 s with the same data dir and config;
// - hostile clients every 5-30 s (chaos-load.ts hostileClient): garbage bytes, a CONNECT cut off
//   half-way, a client taking over a publisher's client id, a 200 KB publish;
// - a cloud broker (Debian's mosquitto, chaos-cloud.ts; left out with --cloud-rate 0 or when
//   mosquitto is not installed) where two cloud publishers send --cloud-rate QoS 1 commands/s in
//   total, each with a unique id, read by the gateway's MQTT source (`type: mqtt`, persistent
//   session), and restarted cleanly every 20-60 s;
// - two full-disk phases of 10-25 s: the data dir is on a tmpfs of --tmpfs-mib that this bench
//   mounts (root needed; unmounted at the end), filled by a filler file until /healthz says the
//   store is not writable (store.reserveBytes 8 MiB), then freed.
// At the end the faults stop, the backlog drains, and every PUBACKed message (by the gateway, or by
// the cloud broker to a cloud publisher) and every line on disk (the live log and every rotated
// copy: all are kept) must have reached the upstream at least once.
// Printed: a line per fault, a progress line every 30 s, then duplicates (allowed), lost (must be
// 0; runs of lost ids with their client, PUBACK time or file), dead letters and why, starts and
// kill -9s, the top warnings, and every finding: a gateway exit not caused by a kill -9 (with its
// stderr), an error or fatal log line other than the full disk's own, a start not ready in 30 s.
// --trace FILE writes the fault log and the gateway's file-source and store log lines there.
// Exit code: 0 clean, 1 loss or finding, 2 not drained within --drain-minutes (lost unknown).
// Not in `npm run bench` (it runs for minutes); run it alone, compiled:
//
//   npm run -s build && node dist/test/bench/chaos.js --minutes 8 --seed 1
//   node dist/test/bench/chaos.js --minutes 2 --seed 7 --rate 1500 --no-file --kill-every 20 --trace /tmp/chaos.trace
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../helpers/index.js';
import { writeConfig } from '../helpers/gateway-process.js';
import { freeBytes } from '../helpers/small-fs.js';
import { ChaosUpstream, type UpstreamMode } from './chaos-upstream.js';
import { elapsed, exporterStatus, Gateway, type ExporterJson } from './chaos-gateway.js';
import { hostileClient, LogFile, Publishers, sleep } from './chaos-load.js';
import { mulberry32 } from '../helpers/prng.js';
import { CloudBroker } from './chaos-cloud.js';

const MiB = 1024 * 1024;

/** Runs of consecutive numbers: [first, last] pairs. */
function runs(ids: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const i of [...ids].sort((x, y) => x - y)) {
    const last = out[out.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

// ---- the run -----------------------------------------------------------------------------------

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      minutes: { type: 'string', default: '8' },
      seed: { type: 'string', default: '1' },
      rate: { type: 'string', default: '1200' },
      clients: { type: 'string', default: '6' },
      lines: { type: 'string', default: '200' },
      'no-file': { type: 'boolean', default: false },
      'cloud-rate': { type: 'string', default: '100' },
      'tmpfs-mib': { type: 'string', default: '64' },
      'kill-every': { type: 'string', default: '45' },
      'drain-minutes': { type: 'string', default: '5' },
      trace: { type: 'string' },
    },
  });
  const minutes = Number(values.minutes);
  const seed = Number(values.seed);
  const rate = Number(values.rate);
  const withFile = !values['no-file'];
  const rnd = mulberry32(seed);
  const between = (a: number, b: number): number => a + rnd() * (b - a);
  if (process.getuid?.() !== 0) {
    console.log('chaos: needs root (it mounts a tmpfs for the data dir)');
    return 2;
  }

  const work = await mkdtemp(join(tmpdir(), 'gatehouse-chaos-'));
  const root = join(work, 'fs');
  await mkdir(root);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${values['tmpfs-mib']}m`, 'tmpfs', root], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    console.log(`chaos: mount tmpfs failed: ${mounted.stderr}`);
    return 2;
  }
  const logs = join(work, 'logs');
  await mkdir(logs);
  await writeFile(join(logs, 'app.log'), '');
  const cloudRate = Number(values['cloud-rate']);
  const cloudCapacity = Math.ceil(cloudRate * minutes * 60 * 1.2) + 10_000;
  const upstream = new ChaosUpstream(
    Math.ceil(rate * minutes * 60 * 1.2) + 10_000,
    Math.ceil(Number(values.lines) * minutes * 60 * 1.2) + 10_000,
    rnd,
    cloudCapacity,
  );
  await upstream.up();
  const cloudDir = join(work, 'cloud');
  await mkdir(cloudDir);
  const cloud = cloudRate > 0 ? await CloudBroker.create(cloudDir, await freePort()) : undefined;
  if (cloudRate > 0 && !cloud) console.log('chaos: mosquitto is not installed (Debian package mosquitto): the MQTT-source leg is left out');
  await cloud?.start();
  const mqttPort = await freePort();
  const adminPort = await freePort();
  const reserve = 8 * MiB;
  const config = await writeConfig(
    work,
    JSON.stringify(
      {
        dataDir: join(root, 'data'),
        log: { level: 'info' },
        store: { reserveBytes: reserve, diskProbeMs: 200 },
        streams: { archive: { maxBytes: 24 * MiB, onFull: 'reject' } },
        sources: [
          ...(withFile
            ? [{ type: 'file', name: 'app', paths: [join(logs, 'app.log')], initialPosition: 'start_of_file', scanIntervalMs: 200, rotateWaitMs: 300 }]
            : []),
          ...(cloud
            ? [
                {
                  type: 'mqtt',
                  name: 'cloud',
                  url: cloud.url,
                  clientId: 'gh-chaos',
                  reconnectMinMs: 100,
                  reconnectMaxMs: 1000,
                  topics: [{ filter: 'cloud/#', localPrefix: 'down/' }],
                },
              ]
            : []),
        ],
        rules: { version: 1, rules: [{ name: 'all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }] },
        exporters: [
          {
            name: 'upstream',
            stream: 'archive',
            destination: { type: 'http', url: upstream.url, timeoutMs: 2000 },
            batch: { maxRecords: 500, lingerMs: 50 },
            backoff: { initialMs: 100, maxMs: 2000 },
          },
        ],
      },
      null,
      2,
    ),
  );
  const t0 = Date.now();
  const g = new Gateway(config, ['--mqtt-port', String(mqttPort), '--admin-port', String(adminPort)], t0);
  if (values.trace) g.trace = [];
  const events: string[] = [];
  const log = (s: string): void => {
    const line = `[${elapsed(t0)}] ${s}`;
    events.push(line);
    console.log(line);
  };
  console.log(
    `chaos: seed ${seed}, ${minutes} min, ${rate} QoS 1 msgs/s from ${values.clients} clients, ${withFile ? `a log file at ${values.lines} lines/s with rotations` : 'no file source'}, ` +
      `${cloud ? `${cloudRate} QoS 1 commands/s through a cloud broker, ` : ''}data dir on a ${values['tmpfs-mib']} MiB tmpfs, kill -9 every ~${values['kill-every']} s`,
  );
  await g.start();
  const pubs = new Publishers(`mqtt://127.0.0.1:${mqttPort}`, Number(values.clients), rate, Math.ceil(rate * minutes * 60 * 1.2) + 10_000, t0);
  pubs.start();
  const file = withFile ? new LogFile(logs, Number(values.lines)) : undefined;
  file?.start();
  const cloudPubs = cloud ? new Publishers(cloud.url, 2, cloudRate, cloudCapacity, t0, 200, { key: 'd', topic: 'cloud/c', client: 'cloud-' }) : undefined;
  cloudPubs?.start();

  // The schedule: times of the next event of each kind.
  const endAt = t0 + minutes * 60_000;
  const killEvery = Number(values['kill-every']) * 1000;
  let nextKill = Date.now() + between(0.3, 1.7) * killEvery;
  let nextMode = Date.now() + between(5000, 20_000);
  let nextRotate = Date.now() + between(4000, 15_000);
  let nextHostile = Date.now() + between(5000, 30_000);
  let nextCloudRestart = Date.now() + between(20_000, 60_000);
  const diskAt = [t0 + between(0.25, 0.45) * minutes * 60_000, t0 + between(0.6, 0.8) * minutes * 60_000];
  let disk: { filler: string; releaseAt: number; fullSeen: boolean; startedAt: number } | undefined;
  let diskPhases = 0;
  let diskFullReported = 0;
  let lastSample = Date.now();

  const restart = async (why: string): Promise<void> => {
    await g.kill9();
    const downMs = Math.floor(between(0, 3000));
    log(`kill -9 (${why}; upstream ${upstream.mode}${disk ? ', disk full' : ''}), restart in ${downMs} ms`);
    await sleep(downMs);
    await g.start().catch(() => undefined);
  };

  while (Date.now() < endAt) {
    await sleep(100);
    const now = Date.now();
    g.scanLogs();
    if (!g.gw) {
      log('gateway not running (crash or failed start): starting it again');
      await g.start().catch(() => undefined);
      continue;
    }
    if (now >= nextMode) {
      const r = rnd();
      const mode: UpstreamMode = r < 0.4 ? 'ok' : r < 0.65 ? 'flaky' : r < 0.8 ? 'stall' : 'down';
      await upstream.setMode(mode);
      log(`upstream ${mode}`);
      nextMode = now + between(5000, 25_000);
    }
    if (file && now >= nextRotate) {
      const mode = rnd() < 0.5 ? 'create' : 'copytruncate';
      file.rotate(mode);
      nextRotate = now + between(4000, 15_000);
      if (rnd() < 0.25) {
        // Mid-rotation: kill within 150 ms of the rotation.
        await sleep(Math.floor(between(0, 150)));
        await restart(`${Math.round(Date.now() - now)} ms after a ${mode} rotation`);
        nextKill = Date.now() + between(0.3, 1.7) * killEvery;
        continue;
      }
      log(`rotated (${mode})`);
    }
    if (cloud && now >= nextCloudRestart) {
      const downMs = Math.floor(between(0, 2000));
      await cloud.restart(downMs);
      log(`cloud broker restarted (down ${downMs} ms)`);
      nextCloudRestart = Date.now() + between(20_000, 60_000);
    }
    if (now >= nextHostile) {
      log(`hostile: ${await hostileClient(mqttPort, rnd())}`);
      nextHostile = now + between(5000, 30_000);
    }
    if (now >= nextKill) {
      await restart('scheduled');
      nextKill = Date.now() + between(0.3, 1.7) * killEvery;
      continue;
    }
    if (!disk && diskPhases < diskAt.length && now >= diskAt[diskPhases]!) {
      diskPhases++;
      const filler = join(root, `filler-${diskPhases}`);
      const bytes = Math.max(0, freeBytes(root) - reserve / 2);
      await writeFile(filler, Buffer.alloc(bytes, 0x61)).catch(() => undefined);
      disk = { filler, releaseAt: now + between(10_000, 25_000), fullSeen: false, startedAt: now };
      log(`disk filled (${(bytes / MiB).toFixed(1)} MiB filler, ${(freeBytes(root) / MiB).toFixed(1)} MiB free)`);
    }
    if (disk && !disk.fullSeen) {
      const h = await g.get('/healthz').catch(() => undefined);
      const reason = (h?.body as { reason?: string } | undefined)?.reason ?? '';
      if (h?.status === 503 && /not writable/.test(reason)) {
        disk.fullSeen = true;
        diskFullReported++;
        log(`gateway reports the disk full ${now - disk.startedAt} ms after the fill: ${reason}`);
      }
    }
    if (disk && now >= disk.releaseAt) {
      await unlink(disk.filler).catch(() => undefined);
      log(`disk freed${disk.fullSeen ? '' : ' (the gateway never reported it full while it was: see findings)'}`);
      if (!disk.fullSeen)
        g.findings.push({ at: elapsed(t0), what: 'disk filled but /healthz never said not writable', detail: `free ${freeBytes(root)} B while filled` });
      disk = undefined;
    }
    if (now - lastSample >= 30_000) {
      lastSample = now;
      const st = await exporterStatus(g).catch(() => undefined);
      log(
        `published ${pubs.next}, PUBACKed ${pubs.ackedCount}, lines written ${file?.next ?? 0}${cloudPubs ? `, cloud PUBACKed ${cloudPubs.ackedCount}` : ''}, upstream got ${upstream.records} records, backlog ${st?.backlog.records ?? '?'}, dead letters ${st?.deadLetters ?? '?'}`,
      );
    }
  }

  // ---- drain and verify ------------------------------------------------------------------------
  log('chaos over: upstream healthy, disk freed; draining');
  await upstream.setMode('ok');
  if (disk) await unlink(disk.filler).catch(() => undefined);
  if (!g.gw) await g.start().catch(() => undefined);
  const inflightLeft = await pubs.stop();
  const cloudInflightLeft = (await cloudPubs?.stop()) ?? 0;
  file?.stop();
  const onDisk = file ? await file.idsOnDisk() : { ids: [], bad: 0, where: new Map<number, string>() };
  const missing = (): { mqtt: number[]; lines: number[]; cloud: number[] } => {
    const m: number[] = [];
    for (let i = 0; i < pubs.next; i++) if (pubs.acked[i] === 1 && upstream.mqttCount(i) === 0) m.push(i);
    const l = onDisk.ids.filter((f) => upstream.lineCount(f) === 0);
    const c: number[] = [];
    if (cloudPubs) for (let i = 0; i < cloudPubs.next; i++) if (cloudPubs.acked[i] === 1 && upstream.cloudCount(i) === 0) c.push(i);
    return { mqtt: m, lines: l, cloud: c };
  };
  const drainStart = Date.now();
  let left = missing();
  let st: ExporterJson | undefined;
  let lastKey = '';
  let stableSince = Date.now();
  while (Date.now() - drainStart < Number(values['drain-minutes']) * 60_000) {
    g.scanLogs();
    if (!g.gw) await g.start().catch(() => undefined);
    st = await exporterStatus(g).catch(() => undefined);
    left = missing();
    if (left.mqtt.length === 0 && left.lines.length === 0 && left.cloud.length === 0 && st?.backlog.records === 0) break;
    // Nothing left in the backlog and nothing arriving for 30 s: what is missing is not coming.
    const key = `${st?.backlog.records}/${left.mqtt.length}/${left.lines.length}/${left.cloud.length}`;
    if (key !== lastKey) {
      lastKey = key;
      stableSince = Date.now();
      log(
        `draining: backlog ${st?.backlog.records ?? '?'}, PUBACKed not yet received ${left.mqtt.length}, lines on disk not yet received ${left.lines.length}, cloud commands not yet received ${left.cloud.length}`,
      );
    } else if (st?.backlog.records === 0 && Date.now() - stableSince > 30_000) break;
    await sleep(1000);
  }
  const drainS = (Date.now() - drainStart) / 1000;
  // Dead letters: what they are, and why.
  let deadLetters: Array<{ payload?: string; attrs?: Record<string, string> }> = [];
  if (g.gw && (st?.deadLetters ?? 0) > 0) {
    const r = await g.get('/api/streams/archive-dlq/records?from=1&limit=1000').catch(() => undefined);
    deadLetters = (r?.body as { records?: typeof deadLetters } | undefined)?.records ?? [];
  }
  const inDlq = new Set<string>();
  for (const d of deadLetters) {
    const p = d.payload ?? '';
    const m = /"(id|f|d)":(\d+)/.exec(p);
    if (m) inDlq.add(`${m[1]}${m[2]}`);
  }
  const stopCode = await g.stop();
  if (stopCode !== 0 && stopCode !== null) g.findings.push({ at: elapsed(t0), what: `graceful stop exited ${stopCode}`, detail: '' });
  await upstream.down();
  await cloud?.stop();
  if (values.trace) await writeFile(values.trace, `${events.join('\n')}\n${g.trace!.join('\n')}\n`);
  spawnSync('umount', ['-l', root]);
  await rm(work, { recursive: true, force: true });

  const lostMqtt = left.mqtt.filter((i) => !inDlq.has(`id${i}`));
  const lostLines = left.lines.filter((f) => !inDlq.has(`f${f}`));
  const lostCloud = left.cloud.filter((d) => !inDlq.has(`d${d}`));
  const drained = st?.backlog.records === 0;
  const dupMqtt = upstream.duplicates('mqtt');
  const dupLines = upstream.duplicates('file');
  const dupCloud = upstream.duplicates('cloud');
  console.log('\n---- chaos summary ----');
  console.log(`seed ${seed}, ${minutes} min of chaos, drain ${drainS.toFixed(0)} s${drained ? '' : ' (NOT DRAINED: backlog left)'}`);
  console.log(
    `MQTT: ${pubs.next} published, ${pubs.ackedCount} PUBACKed, ${pubs.errors} publish errors, ${pubs.skipped} not sent (window full or reconnecting), ${inflightLeft} unanswered at the end`,
  );
  if (file)
    console.log(
      `file: ${file.next} lines written, ${onDisk.ids.length} on disk (${onDisk.bad} unparsable), rotations create ${file.rotations.create} / copytruncate ${file.rotations.copytruncate}`,
    );
  if (cloud && cloudPubs)
    console.log(
      `cloud: ${cloudPubs.next} commands published to the cloud broker, ${cloudPubs.ackedCount} PUBACKed by it, ${cloudPubs.errors} publish errors, ${cloudInflightLeft} unanswered at the end, ${cloud.restarts} broker restarts`,
    );
  console.log(
    `upstream: ${upstream.requests} requests, ${upstream.failed} answered 500, ${upstream.stalled} stalled (${upstream.storedThenStalled} stored first), ${upstream.records} records accepted, ${upstream.unparsable} unparsable records`,
  );
  console.log(`gateway: ${g.starts} starts, ${g.kills} kill -9, disk-full phases ${diskPhases} (reported full ${diskFullReported})`);
  console.log(`duplicates: MQTT ${dupMqtt}, file ${dupLines}, cloud ${dupCloud} (allowed: at least once)`);
  console.log(
    `dead letters: ${st?.deadLetters ?? '?'}${deadLetters.length ? `; errors: ${[...new Set(deadLetters.map((d) => d.attrs?.error ?? '?'))].slice(0, 5).join(' | ')}` : ''}`,
  );
  const lost = lostMqtt.length + lostLines.length + lostCloud.length;
  console.log(
    `LOST: ${lost} (MQTT PUBACKed never received ${lostMqtt.length}${lostMqtt.length ? ` e.g. ${lostMqtt.slice(0, 10).join(',')}` : ''}; file lines on disk never received ${lostLines.length}${lostLines.length ? ` e.g. ${lostLines.slice(0, 10).join(',')}` : ''}; cloud commands PUBACKed by the cloud broker never received ${lostCloud.length}${lostCloud.length ? ` e.g. ${lostCloud.slice(0, 10).join(',')}` : ''})${lost ? ' <-- BROKEN PROMISE' : ''}`,
  );
  // Where the losses are: runs of consecutive ids, with their client, PUBACK time and file.
  for (const run of runs(lostMqtt).slice(0, 10)) {
    const [a, b] = run;
    const clients = new Set<number>();
    for (let i = a; i <= b; i++) clients.add(pubs.clientOf[i]!);
    console.log(
      `  lost MQTT ids ${a}..${b} (${b - a + 1}): clients ${[...clients].map((c) => `chaos-${c}${c % 2 === 0 ? ' clean' : ' session'}`).join(',')}, PUBACKed at ${(pubs.ackedAt[a]! / 1000).toFixed(1)}-${(pubs.ackedAt[b]! / 1000).toFixed(1)} s`,
    );
  }
  for (const [a, b] of runs(lostLines).slice(0, 10)) console.log(`  lost lines ${a}..${b} (${b - a + 1}): ${onDisk.where.get(a)} .. ${onDisk.where.get(b)}`);
  if (cloudPubs)
    for (const [a, b] of runs(lostCloud).slice(0, 10))
      console.log(
        `  lost cloud commands ${a}..${b} (${b - a + 1}): PUBACKed by the cloud broker at ${(cloudPubs.ackedAt[a]! / 1000).toFixed(1)}-${(cloudPubs.ackedAt[b]! / 1000).toFixed(1)} s`,
      );
  const top = [...g.warnings].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`warnings (top): ${top.map(([k, n]) => `${n} x ${k}`).join('; ') || 'none'}`);
  console.log(`findings: ${g.findings.length}`);
  for (const f of g.findings) console.log(`  [${f.at}] ${f.what}\n    ${f.detail.replace(/\n/g, '\n    ')}`);
  console.log(
    `BENCH_JSON ${JSON.stringify({ bench: 'chaos', seed, minutes, published: pubs.next, acked: pubs.ackedCount, lines: file?.next ?? 0, cloudAcked: cloudPubs?.ackedCount ?? 0, lost, drained, duplicates: dupMqtt + dupLines + dupCloud, deadLetters: st?.deadLetters ?? null, starts: g.starts, kills: g.kills, findings: g.findings.length })}`,
  );
  if (g.findings.length > 0) return 1;
  if (!drained) return 2; // what is missing may still be on its way: lost unknown
  return lost > 0 ? 1 : 0;
}

// exit: a stray handle (a client's reconnect timer) must not keep a finished run alive.
process.exit(await main());
