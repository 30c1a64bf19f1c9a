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
//   (rename + create, or copytruncate), tailed by a file source (--no-file to leave it out; --glob
//   tails `app.log*`, which matches the rotated names too, as Kinesis Agent users write it);
// - the upstream (--upstream, chaos-upstreams.ts; by default the Firehose-HTTP endpoint of
//   chaos-upstream.ts) switching every 5-25 s between healthy, flaky
//   (30% HTTP 500), stalled (requests taken and never answered; half of them stored first, so a
//   duplicate) and down (not listening);
// - kill -9 of the gateway every ~--kill-every seconds, and within 150 ms of a quarter of the
//   rotations; restarted after 0-3 s with the same data dir and config;
// - hostile clients every 5-30 s (chaos-load.ts hostileClient): garbage bytes, a CONNECT cut off
//   half-way, a client taking over a publisher's client id (a 3.1.1 or an MQTT 5 one's), a 200 KB publish;
// - a cloud broker (Debian's mosquitto, chaos-cloud.ts; left out with --cloud-rate 0 or when
//   mosquitto is not installed) where two cloud publishers send --cloud-rate QoS 1 commands/s in
//   total, each with a unique id, read by the gateway's MQTT source (`type: mqtt`, persistent
//   session), and restarted cleanly every 20-60 s;
// - MQTT 5 publishers (--v5-clients, 0 to leave them out; protocolVersion 5, half of them clean
//   false with a session expiry of 300 s) beside the 3.1.1 ones, at a quarter of --rate: a PUBACK
//   with a reason code below 0x80 is an acknowledgement;
// - a serial link in acknowledged mode (chaos-serial.ts; --serial-rate readings/s, --no-serial, or
//   left out when socat is not installed): a device on a socat pty pair owned by this process (it
//   outlives each kill -9) sends readings with unique ids and resends each until ACKed;
// - http devices (chaos-http.ts; --http-devices, 0 to leave them out, at --http-rate readings/s in
//   total) POSTing to an http source over keep-alive, one reading or an NDJSON batch of up to 50
//   per request, each request sent again until it is answered 200 (what counts as acknowledged);
// - control-plane changes every 20-60 s (chaos-control.ts; --no-control): SIGHUP with the config
//   unchanged or harmlessly edited, or PUT /api/rules with an equivalent rule set (renamed,
//   reformatted, split in two) that still routes every message into the exported stream; with
//   --actions, half the sets route through an upstream rule action instead (`http` to the same
//   upstream, a URL that changes with the version: a new local stream at each update, so an update
//   leaves the old stream's backlog to an exporter that retires once drained, across kill -9s:
//   after an update that left an action's stream while the upstream is not healthy, most often a
//   kill -9 0.5-2 s later; the
//   changes come every 8-20 s instead);
// - two full-disk phases of 10-25 s: the data dir is on a tmpfs of --tmpfs-mib that this bench
//   mounts (root needed; unmounted at the end), filled by a filler file until /healthz says the
//   store is not writable (store.reserveBytes 8 MiB), then freed.
// At the end the faults stop, the backlog drains, and every acknowledged message (a PUBACK by the
// gateway, or by the cloud broker to a cloud publisher; a serial ACK) and every line on disk (the live log and every rotated
// copy: all are kept) must have reached the upstream at least once.
// Printed: a line per fault, a progress line every 30 s, then per leg acknowledged, lost (must be
// 0; runs of lost ids with their client, acknowledgement time or file) and duplicates (allowed), dead letters and why, starts and
// kill -9s, the top warnings, and every finding: a gateway exit not caused by a kill -9 (with its
// stderr), an error or fatal log line other than the full disk's own, a start not ready in 30 s,
// any record of the load dead-lettered (read from every `*-dlq` stream at the end, so those of
// every process of the run: the load holds no record a destination refuses for good).
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
import type { UpstreamMode } from './chaos-upstream.js';
import { createUpstream } from './chaos-upstreams.js';
import { allDeadLetters, elapsed, exporterStatus, Gateway, type DeadLetterJson, type ExporterJson } from './chaos-gateway.js';
import { hostileClient, LogFile, Publishers, sleep } from './chaos-load.js';
import { mulberry32 } from '../helpers/prng.js';
import { CloudBroker } from './chaos-cloud.js';
import { chaosConfig } from './chaos-config.js';
import { PtyPair, SerialDevice } from './chaos-serial.js';
import { ControlChanges } from './chaos-control.js';
import { HttpDevices } from './chaos-http.js';
import { type AckLeg, deadLetterIds, missingOf, printLegLosses, runs } from './chaos-report.js';

const MiB = 1024 * 1024;

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
      glob: { type: 'boolean', default: false },
      actions: { type: 'boolean', default: false },
      upstream: { type: 'string', default: 'http' },
      'cloud-rate': { type: 'string', default: '100' },
      'v5-clients': { type: 'string', default: '4' },
      'serial-rate': { type: 'string', default: '50' },
      'no-serial': { type: 'boolean', default: false },
      'http-devices': { type: 'string', default: '6' },
      'http-rate': { type: 'string', default: '150' },
      'no-control': { type: 'boolean', default: false },
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
  // The new legs draw from their own sequence: leaving one out keeps the others' schedule.
  const rndControl = mulberry32(seed * 7919 + 1);
  const v5Clients = Number(values['v5-clients']);
  const v5Rate = v5Clients > 0 ? Math.max(1, Math.round(rate / 4)) : 0;
  const serialRate = values['no-serial'] ? 0 : Number(values['serial-rate']);
  const httpDevices = Number(values['http-devices']);
  const httpRate = httpDevices > 0 ? Number(values['http-rate']) : 0;
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
  const capacity = (perSecond: number): number => Math.ceil(perSecond * minutes * 60 * 1.2) + 10_000;
  const upstreamDir = join(work, 'upstream');
  await mkdir(upstreamDir);
  const made = await createUpstream(values.upstream, {
    capacities: {
      id: capacity(rate),
      f: capacity(Number(values.lines)),
      d: cloudCapacity,
      v: capacity(v5Rate),
      s: capacity(serialRate),
      h: capacity(httpRate),
    },
    rnd,
    dir: upstreamDir,
  });
  if (typeof made === 'string') {
    console.log(`chaos: ${made}`);
    spawnSync('umount', ['-l', root]);
    await rm(work, { recursive: true, force: true });
    return 2;
  }
  const upstream = made;
  if (values.actions && !upstream.action) {
    console.log(`chaos: --actions is not supported with --upstream ${upstream.kind}`);
    await upstream.down();
    spawnSync('umount', ['-l', root]);
    await rm(work, { recursive: true, force: true });
    return 2;
  }
  const cloudDir = join(work, 'cloud');
  await mkdir(cloudDir);
  const cloudOut = cloudRate > 0 && upstream.dropsBridged === true;
  if (cloudOut) console.log(`chaos: --upstream ${upstream.kind} never gets what an MQTT source brought down (loop prevention): the cloud leg is left out`);
  const cloud = cloudRate > 0 && !cloudOut ? await CloudBroker.create(cloudDir, await freePort()) : undefined;
  if (cloudRate > 0 && !cloudOut && !cloud) console.log('chaos: mosquitto is not installed (Debian package mosquitto): the MQTT-source leg is left out');
  await cloud?.start();
  const earlyFindings: Array<{ at: string; what: string; detail: string }> = [];
  const pty = serialRate > 0 ? await PtyPair.create(work, (why) => earlyFindings.push({ at: '?', what: 'socat pty pair died', detail: why })) : undefined;
  if (serialRate > 0 && !pty) console.log('chaos: socat is not installed (Debian package socat): the serial leg is left out');
  const mqttPort = await freePort();
  const adminPort = await freePort();
  const httpPort = httpRate > 0 ? await freePort() : undefined;
  const reserve = 8 * MiB;
  const configObj = chaosConfig({
    dataDir: join(root, 'data'),
    reserveBytes: reserve,
    logFile: withFile ? join(logs, 'app.log') : undefined,
    logGlob: values.glob,
    cloudUrl: cloud?.url,
    destination: upstream.destination(),
    serialPath: pty?.dev1,
    httpPort,
  });
  const config = await writeConfig(work, JSON.stringify(configObj, null, 2));
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
      `${cloud ? `${cloudRate} QoS 1 commands/s through a cloud broker, ` : ''}${v5Rate ? `${v5Rate} msgs/s from ${v5Clients} MQTT 5 clients, ` : ''}${pty ? `${serialRate} serial readings/s, ` : ''}${httpPort ? `${httpRate} readings/s POSTed by ${httpDevices} http devices, ` : ''}${values['no-control'] ? '' : 'control-plane changes, '}upstream ${upstream.kind}, data dir on a ${values['tmpfs-mib']} MiB tmpfs, kill -9 every ~${values['kill-every']} s`,
  );
  // A first start that fails is a finding, not the end of the run: the loop starts it again, and
  // the run's end unmounts the tmpfs and stops the peers (a throw here left them behind).
  await g.start().catch((err: unknown) => g.findings.push({ at: elapsed(t0), what: 'the first start failed', detail: String(err) }));
  const pubs = new Publishers(`mqtt://127.0.0.1:${mqttPort}`, Number(values.clients), rate, Math.ceil(rate * minutes * 60 * 1.2) + 10_000, t0);
  pubs.start();
  const file = withFile ? new LogFile(logs, Number(values.lines)) : undefined;
  file?.start();
  const cloudPubs = cloud ? new Publishers(cloud.url, 2, cloudRate, cloudCapacity, t0, 200, { key: 'd', topic: 'cloud/c', client: 'cloud-' }) : undefined;
  cloudPubs?.start();
  const v5Pubs =
    v5Clients > 0
      ? new Publishers(
          `mqtt://127.0.0.1:${mqttPort}`,
          v5Clients,
          v5Rate,
          capacity(v5Rate),
          t0,
          200,
          { key: 'v', topic: 'chaos5/c', client: 'chaos5-' },
          { sessionExpiryInterval: 300 },
        )
      : undefined;
  v5Pubs?.start();
  const device = pty ? new SerialDevice(pty.dev0, serialRate, capacity(serialRate), t0) : undefined;
  device?.start();
  // Its own sequence (single or batch, the batch's size): the other legs' schedule stays.
  const httpDevs = httpPort ? new HttpDevices(httpPort, httpDevices, httpRate, capacity(httpRate), t0, mulberry32(seed * 104_729 + 3)) : undefined;
  httpDevs?.start();
  const control = values['no-control']
    ? undefined
    : new ControlChanges(config, configObj, g.findings, t0, values.actions ? upstream.action?.bind(upstream) : undefined);
  // Every leg whose sender is told what was acknowledged: each such id must reach the upstream.
  const legs: AckLeg[] = [
    { name: 'MQTT 3.1.1', key: 'id', sender: pubs, whoSent: (i) => `chaos-${pubs.clientOf[i]}${pubs.clientOf[i]! % 2 === 0 ? ' clean' : ' session'}` },
    ...(v5Pubs
      ? [
          {
            name: 'MQTT 5',
            key: 'v' as const,
            sender: v5Pubs,
            whoSent: (i: number) => `chaos5-${v5Pubs.clientOf[i]}${v5Pubs.clientOf[i]! % 2 === 0 ? ' clean' : ' session'}`,
          },
        ]
      : []),
    ...(cloudPubs ? [{ name: 'cloud (PUBACKed by the cloud broker)', key: 'd' as const, sender: cloudPubs }] : []),
    ...(device ? [{ name: 'serial (ACKed)', key: 's' as const, sender: device }] : []),
    ...(httpDevs ? [{ name: 'http (answered 200)', key: 'h' as const, sender: httpDevs, whoSent: (i: number) => `http dev${httpDevs.deviceOf[i]}` }] : []),
  ];

  // The schedule: times of the next event of each kind.
  const endAt = t0 + minutes * 60_000;
  const killEvery = Number(values['kill-every']) * 1000;
  let nextKill = Date.now() + between(0.3, 1.7) * killEvery;
  let nextMode = Date.now() + between(5000, 20_000);
  let nextRotate = Date.now() + between(4000, 15_000);
  let nextHostile = Date.now() + between(5000, 30_000);
  let nextCloudRestart = Date.now() + between(20_000, 60_000);
  let nextControl = Date.now() + 20_000 + rndControl() * 40_000;
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
    if (control && now >= nextControl) {
      const what = await control.change(g, rndControl());
      log(`control: ${what}`);
      // --actions: every 8-20 s, so that updates often follow one that routed through an action.
      nextControl = Date.now() + (values.actions ? 8000 + rndControl() * 12_000 : 20_000 + rndControl() * 40_000);
      // --actions: a kill soon after a rule update moved the flow off an action's stream while the
      // upstream is not healthy, so that stream holds a backlog at the restart (its own sequence).
      if (values.actions && what.startsWith('PUT') && control.leftAction && upstream.mode !== 'ok' && rndControl() < 0.9) {
        await sleep(Math.floor(500 + rndControl() * 1500));
        await restart(`${Math.round(Date.now() - now)} ms after a rule update`);
        nextKill = Date.now() + between(0.3, 1.7) * killEvery;
        continue;
      }
    }
    if (now >= nextHostile) {
      // The takeover's victim: an MQTT 5 session keeper half the time (its own sequence: the schedule stays).
      log(`hostile: ${await hostileClient(mqttPort, rnd(), v5Pubs && rndControl() < 0.5 ? 'chaos5-1' : 'chaos-1')}`);
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
      // Half the phases get a control change while the disk is full (a rule set is stored then).
      if (control && rndControl() < 0.5) nextControl = Math.min(nextControl, now + 2000 + rndControl() * 6000);
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
        `published ${pubs.next}, PUBACKed ${pubs.ackedCount}${v5Pubs ? `, MQTT 5 PUBACKed ${v5Pubs.ackedCount}` : ''}, lines written ${file?.next ?? 0}${cloudPubs ? `, cloud PUBACKed ${cloudPubs.ackedCount}` : ''}${device ? `, serial ACKed ${device.ackedCount}` : ''}${httpDevs ? `, http 200'd ${httpDevs.ackedCount}` : ''}, upstream got ${upstream.records} records, backlog ${st?.backlog.records ?? '?'}, dead letters ${st?.deadLetters ?? '?'}`,
      );
    }
  }

  // ---- drain and verify ------------------------------------------------------------------------
  log('chaos over: upstream healthy, disk freed; draining');
  await upstream.setMode('ok');
  if (disk) await unlink(disk.filler).catch(() => undefined);
  if (!g.gw) await g.start().catch(() => undefined);
  const inflightLeft = await pubs.stop();
  const v5InflightLeft = (await v5Pubs?.stop()) ?? 0;
  const cloudInflightLeft = (await cloudPubs?.stop()) ?? 0;
  const serialUnacked = (await device?.stop()) ?? 0;
  const httpUnacked = (await httpDevs?.stop()) ?? 0;
  file?.stop();
  const onDisk = file ? await file.idsOnDisk() : { ids: [], bad: 0, where: new Map<number, string>() };
  const missing = (): { legs: number[][]; lines: number[] } => ({
    legs: legs.map((leg) => missingOf(leg, upstream)),
    lines: onDisk.ids.filter((f) => upstream.count('f', f) === 0),
  });
  const drainStart = Date.now();
  let left = missing();
  let st: ExporterJson | undefined;
  let lastKey = '';
  let stableSince = Date.now();
  while (Date.now() - drainStart < Number(values['drain-minutes']) * 60_000) {
    g.scanLogs();
    if (!g.gw) await g.start().catch(() => undefined);
    st = await exporterStatus(g).catch(() => undefined);
    await upstream.collect?.();
    left = missing();
    const counts = [...left.legs.map((m) => m.length), left.lines.length];
    if (counts.every((n) => n === 0) && st?.backlog.records === 0) break;
    // Nothing left in the backlog and nothing arriving for 30 s: what is missing is not coming.
    const key = `${st?.backlog.records}/${counts.join('/')}`;
    if (key !== lastKey) {
      lastKey = key;
      stableSince = Date.now();
      log(
        `draining: backlog ${st?.backlog.records ?? '?'}, acknowledged not yet received: ${legs.map((leg, k) => `${leg.name} ${left.legs[k]!.length}`).join(', ')}, lines on disk ${left.lines.length}`,
      );
    } else if (st?.backlog.records === 0 && Date.now() - stableSince > 30_000) break;
    await sleep(1000);
  }
  const drainS = (Date.now() - drainStart) / 1000;
  await upstream.collect?.();
  left = missing();
  // Dead letters: what they are, and why. Read from the dead-letter streams (durable: those of every
  // process of the run), not from the exporters' counters (since the last start only).
  let deadLetters: DeadLetterJson[] = [];
  let dlqStreams: string[] = [];
  if (g.gw) {
    const all = await allDeadLetters(g).catch((err: Error) => {
      g.findings.push({ at: elapsed(t0), what: 'the dead-letter streams could not be read', detail: err.message });
      return new Map<string, DeadLetterJson[]>();
    });
    deadLetters = [...all.values()].flat();
    dlqStreams = [...all].map(([n, r]) => `${n} ${r.length}`);
  }
  const inDlq = deadLetterIds(deadLetters);
  // The chaos load's records (those carrying a leg's id) are all ones every destination accepts
  // (no poison, none over a limit): one dead-lettered is a retry budget spent on a fault of the
  // chaos (an outage, a failing shard), a bug. The hostile client's oversized publishes carry no id:
  // their dead letters are expected, printed below but not findings.
  if (inDlq.size > 0)
    g.findings.push({
      at: elapsed(t0),
      what: `${inDlq.size} of the chaos load's records dead-lettered: it has none a destination refuses for good`,
      detail: [...new Set(deadLetters.filter((d) => deadLetterIds([d]).size > 0).map((d) => d.attrs?.error ?? '?'))].slice(0, 5).join('\n'),
    });
  const stopCode = await g.stop();
  if (stopCode !== 0 && stopCode !== null) g.findings.push({ at: elapsed(t0), what: `graceful stop exited ${stopCode}`, detail: '' });
  await upstream.down();
  await cloud?.stop();
  await pty?.stop();
  g.findings.push(...earlyFindings);
  if (values.trace) await writeFile(values.trace, `${events.join('\n')}\n${g.trace!.join('\n')}\n`);
  spawnSync('umount', ['-l', root]);
  await rm(work, { recursive: true, force: true });

  const lostByLeg = legs.map((leg, k) => ({ leg, lost: left.legs[k]!.filter((i) => !inDlq.has(`${leg.key}:${i}`)) }));
  const lostLines = left.lines.filter((f) => !inDlq.has(`f:${f}`));
  const drained = st?.backlog.records === 0;
  const duplicates = legs.reduce((n, leg) => n + upstream.duplicates(leg.key), upstream.duplicates('f'));
  console.log('\n---- chaos summary ----');
  console.log(`seed ${seed}, ${minutes} min of chaos, drain ${drainS.toFixed(0)} s${drained ? '' : ' (NOT DRAINED: backlog left)'}`);
  console.log(
    `MQTT: ${pubs.next} published, ${pubs.ackedCount} PUBACKed, ${pubs.errors} publish errors (${[...pubs.errorKinds].map(([k, n]) => `${n} x ${k}`).join(', ') || 'none'}), ${pubs.skipped} not sent (window full or reconnecting), ${inflightLeft} unanswered at the end`,
  );
  if (v5Pubs)
    console.log(
      `MQTT 5: ${v5Pubs.next} published by ${v5Clients} clients, ${v5Pubs.ackedCount} PUBACKed (reason code < 0x80), ${v5Pubs.errors} publish errors (${[...v5Pubs.errorKinds].map(([k, n]) => `${n} x ${k}`).join(', ') || 'none'}), ${v5Pubs.skipped} not sent, ${v5InflightLeft} unanswered at the end`,
    );
  if (file)
    console.log(
      `file: ${file.next} lines written, ${onDisk.ids.length} on disk (${onDisk.bad} unparsable), rotations create ${file.rotations.create} / copytruncate ${file.rotations.copytruncate}`,
    );
  if (cloud && cloudPubs)
    console.log(
      `cloud: ${cloudPubs.next} commands published to the cloud broker, ${cloudPubs.ackedCount} PUBACKed by it, ${cloudPubs.errors} publish errors, ${cloudInflightLeft} unanswered at the end, ${cloud.restarts} broker restarts`,
    );
  if (device && pty)
    console.log(
      `serial: ${device.next} readings sent, ${device.ackedCount} ACKed, ${device.resent} resends, ${device.naks} NAKs, ${serialUnacked} never ACKed, ${device.reopens} port reopens, ${pty.restarts} socat restarts`,
    );
  if (httpDevs)
    console.log(
      `http: ${httpDevs.next} readings generated, ${httpDevs.ackedCount} answered 200, ${httpDevs.requests} requests (${httpDevs.retries} retries, ${httpDevs.batches} NDJSON batches answered 200), not 200: ${[...httpDevs.refusals].map(([k, n]) => `${n} x ${k}`).join(', ') || 'none'}, ${httpDevs.skipped} not generated (queue full), ${httpUnacked} never answered 200`,
    );
  if (control)
    console.log(
      `control: ${control.sighups} SIGHUPs (${control.sighupsEdited} with the config edited), ${control.ruleUpdates} rule set updates (PUT /api/rules)`,
    );
  console.log(upstream.describe());
  console.log(`gateway: ${g.starts} starts, ${g.kills} kill -9, disk-full phases ${diskPhases} (reported full ${diskFullReported})`);
  console.log(
    `dead letters: ${deadLetters.length} in the dead-letter streams${dlqStreams.length ? ` (${dlqStreams.join(', ')})` : ''}, ${st?.deadLetters ?? '?'} since the last start${deadLetters.length ? `; errors: ${[...new Set(deadLetters.map((d) => d.attrs?.error ?? '?'))].slice(0, 5).join(' | ')}` : ''}`,
  );
  const lost = lostByLeg.reduce((n, l) => n + l.lost.length, lostLines.length);
  console.log(`LOST: ${lost}${lost ? ' <-- BROKEN PROMISE' : ''}; per leg (duplicates allowed: at least once):`);
  printLegLosses(lostByLeg, upstream);
  if (file)
    console.log(
      `  file: ${onDisk.ids.length} lines on disk, ${lostLines.length} lost, ${upstream.duplicates('f')} duplicates${lostLines.length ? ' <-- BROKEN PROMISE' : ''}`,
    );
  for (const [a, b] of runs(lostLines).slice(0, 10)) console.log(`    lost lines ${a}..${b} (${b - a + 1}): ${onDisk.where.get(a)} .. ${onDisk.where.get(b)}`);
  const top = [...g.warnings].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`warnings (top): ${top.map(([k, n]) => `${n} x ${k}`).join('; ') || 'none'}`);
  console.log(`findings: ${g.findings.length}`);
  for (const f of g.findings) console.log(`  [${f.at}] ${f.what}\n    ${f.detail.replace(/\n/g, '\n    ')}`);
  const acked = Object.fromEntries(legs.map((leg) => [leg.key, leg.sender.ackedCount]));
  console.log(
    `BENCH_JSON ${JSON.stringify({ bench: 'chaos', seed, minutes, published: pubs.next, acked: pubs.ackedCount, ackedByLeg: acked, lines: file?.next ?? 0, cloudAcked: cloudPubs?.ackedCount ?? 0, lost, drained, duplicates, deadLetters: deadLetters.length, starts: g.starts, kills: g.kills, findings: g.findings.length })}`,
  );
  if (g.findings.length > 0) return 1;
  if (!drained) return 2; // what is missing may still be on its way: lost unknown
  return lost > 0 ? 1 : 0;
}

// exit: a stray handle (a client's reconnect timer) must not keep a finished run alive.
process.exit(await main());
