// The syslog source's throughput in a real gateway process (the default rule archives every
// message into `archive`; no exporter): messages/s over one TCP connection sending as fast as the
// source's backpressure lets it (octet-counted RFC 5424, ~150 bytes), the gateway's CPU per message
// (/proc/<pid>/stat utime+stime), and UDP at a fixed offered rate: how many were committed, dropped
// by the source (busy) or never seen (the kernel's receive buffer); RELP over one connection with
// omrelp's window (128 messages sent and not yet answered), each answered once committed.
// Prints figures; no timed assertion.
// Run: npm run -s build && node dist/test/bench/syslog-source.js   (BENCH_MESSAGES=50000, BENCH_UDP_RATE=5000)
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, writeConfig, type GatewayProcess } from '../helpers/gateway-process.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const UDP_RATE = Number(process.env.BENCH_UDP_RATE ?? 5000);
const UDP_SECONDS = 3;
const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

interface Details {
  listening: Record<string, string>;
  messages: number;
  dropped: Record<string, number>;
}

async function details(gw: GatewayProcess): Promise<Details> {
  const api = (await (await fetch(`${gw.adminUrl}/api/sources`)).json()) as { sources: Array<{ kind: string; details: Details }> };
  return api.sources.find((s) => s.kind === 'syslog')!.details;
}

async function until(gw: GatewayProcess, n: number): Promise<void> {
  while ((await details(gw)).messages < n) await new Promise((r) => setTimeout(r, 50));
}

function message(i: number): string {
  const m = `<30>1 2026-12-07T14:00:00.000Z switch-${i % 16} lldpd ${1000 + (i % 7)} LINK [port@32473 id="${i % 48}"] port ${i % 48} up seq=${i}`;
  return `${Buffer.byteLength(m)} ${m}`;
}

const RELP_WINDOW = Number(process.env.BENCH_RELP_WINDOW ?? 128);

/** One RELP session: open, MESSAGES syslog commands with at most RELP_WINDOW unanswered, close. */
async function relpRun(port: number, pid: number, before: number): Promise<Record<string, unknown>> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  let answered = 0;
  let ok = 0;
  let buffered = '';
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    buffered += d.toString('latin1');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const m = /^(\d+) rsp /.exec(line);
      if (!m || m[1] === '0') continue;
      // the open's answer (txnr 1; its offer lines match nothing here)
      if (m[1] === '1') continue;
      answered++;
      if (line.endsWith('200 OK')) ok++;
      wake?.();
    }
  });
  const offers = 'relp_version=0\nrelp_software=bench\ncommands=syslog';
  s.write(`1 open ${offers.length} ${offers}\n`);
  const cpu0 = cpuTicks(pid);
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    while (i - answered >= RELP_WINDOW) await new Promise<void>((r) => (wake = r));
    const m = message(i).replace(/^\d+ /, '');
    if (!s.write(`${i + 2} syslog ${Buffer.byteLength(m)} ${m}\n`)) await once(s, 'drain');
  }
  while (answered < MESSAGES) await new Promise<void>((r) => (wake = r));
  const secs = (performance.now() - t0) / 1000;
  const cpu = (cpuTicks(pid) - cpu0) / TICKS;
  s.end(`${MESSAGES + 2} close 0\n`);
  return {
    case: `relp, 1 session, window ${RELP_WINDOW}`,
    messages: MESSAGES,
    answered200: ok,
    committedBefore: before,
    messagesPerSec: Math.round(MESSAGES / secs),
    cpuUsPerMessage: Math.round((cpu * 1e6) / MESSAGES),
  };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-syslog-'));
  const config = await writeConfig(
    dir,
    `dataDir: ${JSON.stringify(join(dir, 'data'))}\nsources:\n  - { type: syslog, name: bench, udp: { port: 0 }, tcp: { port: 0 }, relp: { port: 0 } }\n`,
  );
  const gw = await startGatewayProcess(config);
  try {
    const at = (await details(gw)).listening;
    const pid = gw.proc.pid!;
    // TCP: one connection, written as fast as the socket takes it
    const tcpPort = Number(at.tcp!.split(':')[1]);
    const s = connect(tcpPort, '127.0.0.1');
    await once(s, 'connect');
    const cpu0 = cpuTicks(pid);
    const t0 = performance.now();
    for (let i = 0; i < MESSAGES; i++) if (!s.write(message(i))) await once(s, 'drain');
    s.end();
    await until(gw, MESSAGES);
    const secs = (performance.now() - t0) / 1000;
    const cpu = (cpuTicks(pid) - cpu0) / TICKS;
    console.log(
      JSON.stringify({
        case: 'tcp octet-counted, 1 connection',
        messages: MESSAGES,
        messagesPerSec: Math.round(MESSAGES / secs),
        cpuUsPerMessage: Math.round((cpu * 1e6) / MESSAGES),
      }),
    );
    // RELP: omrelp's default window of 128 unanswered messages; each answer is a commit's
    console.log(JSON.stringify(await relpRun(Number(at.relp!.split(':')[1]), pid, (await details(gw)).messages)));
    // UDP at a fixed offered rate
    const udpPort = Number(at.udp!.split(':')[1]);
    const u = createSocket('udp4');
    const before = await details(gw);
    const total = UDP_RATE * UDP_SECONDS;
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + (i / UDP_RATE) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      u.send(message(MESSAGES + i).replace(/^\d+ /, ''), udpPort, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 1000)); // the last datagrams' commits
    u.close();
    const after = await details(gw);
    const committed = after.messages - before.messages;
    const busy = (after.dropped.busy ?? 0) - (before.dropped.busy ?? 0);
    console.log(
      JSON.stringify({ case: `udp at ${UDP_RATE}/s for ${UDP_SECONDS} s`, offered: total, committed, droppedBusy: busy, unseen: total - committed - busy }),
    );
  } finally {
    await gw.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
