// The report of stages.ts (pi.ts with BENCH_STAGES=1): each acknowledged publish's latency split
// into the stages the tracer stamped, as percentiles over all messages, over the median band
// (the 45th-55th percentile of the whole round trip) and over the p99 tail (the slowest 1%), and
// for each stage the p99 the round trip would have if that stage always took its median (what the
// tail owes to it).
import type { CommitStamp, GatewayStages } from './stages.js';

/** The fleet's side, per device index: performance.now() of the publish call and PUBACK callback by seq. */
export interface FleetStages {
  origin: number;
  sent: number[][];
  acked: number[][];
}

export function fleetRecorder(devices: number): { stages: FleetStages; trace: (device: number, seq: number, sentAt: number, ackedAt: number) => void } {
  const stages: FleetStages = { origin: performance.timeOrigin, sent: [], acked: [] };
  for (let i = 0; i < devices; i++) {
    stages.sent.push([]);
    stages.acked.push([]);
  }
  return {
    stages,
    trace(device, seq, sentAt, ackedAt) {
      stages.sent[device]![seq] = sentAt;
      stages.acked[device]![seq] = ackedAt;
    },
  };
}

const SEGMENTS = [
  ['publish call -> PUBLISH parsed', 'transit'],
  ['parsed -> append enqueued', 'pipeline'],
  ['enqueued -> commit write starts', 'window'],
  ['write + fsync', 'fsync'],
  ['fsync done -> PUBACK handed', 'handback'],
  ['PUBACK handed -> fleet callback', 'return'],
] as const;

interface Msg {
  seg: number[];
  total: number;
  commit: CommitStamp;
  /** The message opened its commit's window (its first append). */
  first: boolean;
  /** Age of its commit's oldest append when the write started (the window as it ran). */
  oldestAge: number;
  /** Enqueued while the previous commit was being written: ms until that write ended. */
  behindWrite: number;
  chunk: number;
  sinceReadable: number;
  /** GC pause ms inside [sent, acked], and of it major (mark-compact) GC. */
  gcMs: number;
  gcMajorMs: number;
}

function q(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
const mean = (xs: number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const sortNum = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

function commitOf(commits: CommitStamp[], index: number): CommitStamp | undefined {
  let lo = 0;
  let hi = commits.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    const c = commits[m]!;
    if (index < c.first) hi = m - 1;
    else if (index >= c.first + c.count) lo = m + 1;
    else return c;
  }
  return undefined;
}

/** Join both sides per device in publish order; messages missing a stamp are left out (counted). */
function join(fleet: FleetStages, gw: GatewayStages, prefix: string): { msgs: Msg[]; missing: number } {
  const msgs: Msg[] = [];
  let missing = 0;
  const fo = fleet.origin;
  const go = gw.origin;
  const gcs = gw.gc.map(([s, d, k]) => [s + go, d, k] as const);
  const prevSynced = new Map<CommitStamp, number>();
  for (let i = 1; i < gw.commits.length; i++) prevSynced.set(gw.commits[i]!, gw.commits[i - 1]!.syncedAt + go);
  const enqAt = new Map<number, number>();
  for (const d of Object.values(gw.devices)) for (let k = 0; k < d.index.length; k++) enqAt.set(d.index[k]!, d.enqueued[k]! + go);
  for (let dev = 0; dev < fleet.sent.length; dev++) {
    const d = gw.devices[`${prefix}-${dev}`];
    const sent = fleet.sent[dev]!;
    for (let k = 0; k < sent.length; k++) {
      const s = sent[k];
      const a = fleet.acked[dev]![k];
      const c = d ? commitOf(gw.commits, d.index[k] ?? -1) : undefined;
      if (s === undefined || a === undefined || !d || d.parsed[k] === undefined || d.handed[k] === undefined || !c || !(c.syncedAt > 0)) {
        missing++;
        continue;
      }
      const t = [s + fo, d.parsed[k]! + go, d.enqueued[k]! + go, c.writeAt + go, c.syncedAt + go, d.handed[k]! + go, a + fo];
      const seg = SEGMENTS.map((_, j) => t[j + 1]! - t[j]!);
      const before = prevSynced.get(c);
      let gcMs = 0;
      let gcMajorMs = 0;
      for (const [gs, gd, gk] of gcs) {
        if (gs >= t[6]! || gs + gd <= t[0]!) continue;
        const inside = Math.min(gs + gd, t[6]!) - Math.max(gs, t[0]!);
        gcMs += inside;
        if (gk === 4) gcMajorMs += inside;
      }
      msgs.push({
        seg,
        total: t[6]! - t[0]!,
        commit: c,
        first: d.index[k] === c.first,
        oldestAge: c.writeAt + go - (enqAt.get(c.first) ?? Number.NaN),
        behindWrite: before !== undefined && before > t[2]! ? before - t[2]! : 0,
        chunk: d.chunk[k] ?? 1,
        sinceReadable: d.sinceReadable[k] ?? 0,
        gcMs,
        gcMajorMs,
      });
    }
  }
  return { msgs, missing };
}

const f2 = (x: number): string => (Number.isNaN(x) ? '-' : x.toFixed(2));

export function printStages(run: string, fleet: FleetStages, gw: GatewayStages, prefix: string): Record<string, number> {
  const { msgs, missing } = join(fleet, gw, prefix);
  if (msgs.length < 100) {
    console.log(`\nstages (${run}): only ${msgs.length} messages matched (${missing} missing a stamp): nothing to say`);
    return {};
  }
  msgs.sort((a, b) => a.total - b.total);
  const n = msgs.length;
  const totals = msgs.map((m) => m.total);
  const p99 = q(totals, 0.99);
  const tail = msgs.filter((m) => m.total >= p99);
  const band = msgs.slice(Math.floor(n * 0.45), Math.ceil(n * 0.55));
  console.log(
    `\nstages (${run}): ${n} messages matched (${missing} missing a stamp; ${gw.outOfOrder} appends out of publish order), round trip p50 ${f2(q(totals, 0.5))} / p99 ${f2(p99)} ms; median band = 45th-55th percentile (${band.length}), tail = the slowest 1% (${tail.length}). ms:`,
  );
  const head = ['stage', 'p50 all', 'p99 all', 'mean band', 'mean tail', 'p50 tail', 'tail - band', 'p99 if median'];
  const cells: string[][] = [];
  const out: Record<string, number> = { p50: q(totals, 0.5), p99 };
  for (let j = 0; j < SEGMENTS.length; j++) {
    const all = sortNum(msgs.map((m) => m.seg[j]!));
    const med = q(all, 0.5);
    // the round trip's p99 if this stage always took its median
    const cf = sortNum(msgs.map((m) => m.total - m.seg[j]! + med));
    const mt = mean(tail.map((m) => m.seg[j]!));
    const mb = mean(band.map((m) => m.seg[j]!));
    cells.push([SEGMENTS[j]![0], f2(med), f2(q(all, 0.99)), f2(mb), f2(mt), f2(q(sortNum(tail.map((m) => m.seg[j]!)), 0.5)), f2(mt - mb), f2(q(cf, 0.99))]);
    out[`${SEGMENTS[j]![1]}Tail`] = mt;
    out[`${SEGMENTS[j]![1]}Band`] = mb;
  }
  cells.push([
    'round trip',
    f2(q(totals, 0.5)),
    f2(p99),
    f2(mean(band.map((m) => m.total))),
    f2(mean(tail.map((m) => m.total))),
    f2(q(sortNum(tail.map((m) => m.total)), 0.5)),
    '',
    '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));

  // The window stage, taken apart for both groups.
  const describe = (name: string, g: Msg[]): string => {
    const paced = g.filter((m) => m.commit.waitMs > 0);
    const late = paced.map((m) => m.commit.cutAt - (m.commit.waitAt + m.commit.waitMs));
    return [
      `${name}:`,
      `opened its window ${((100 * g.filter((m) => m.first).length) / g.length).toFixed(0)}%,`,
      `enqueued during the previous write ${((100 * g.filter((m) => m.behindWrite > 0).length) / g.length).toFixed(0)}% (mean wait for it ${f2(mean(g.filter((m) => m.behindWrite > 0).map((m) => m.behindWrite)))}),`,
      `commit paced ${((100 * paced.length) / g.length).toFixed(0)}% (planned wait mean ${f2(mean(paced.map((m) => m.commit.waitMs)))}, timer late mean ${f2(mean(late))} max ${f2(late.length > 0 ? Math.max(...late) : Number.NaN)}),`,
      `its commit's oldest append at the write ${f2(mean(g.map((m) => m.oldestAge)))} old,`,
      `cut -> write ${f2(mean(g.map((m) => m.commit.writeAt - m.commit.cutAt)))},`,
      `records in its commit ${f2(mean(g.map((m) => m.commit.count)))};`,
      `read with others ${((100 * g.filter((m) => m.chunk > 1).length) / g.length).toFixed(0)}%, read > 0.5 ms after a 'readable' ${((100 * g.filter((m) => m.sinceReadable > 0.5).length) / g.length).toFixed(0)}% (mean ${f2(mean(g.filter((m) => m.sinceReadable > 0.5).map((m) => m.sinceReadable)))} ms after);`,
      `a GC pause inside its round trip ${((100 * g.filter((m) => m.gcMs > 0).length) / g.length).toFixed(0)}% (mean ${f2(mean(g.map((m) => m.gcMs)))} ms, of it major GC ${f2(mean(g.map((m) => m.gcMajorMs)))})`,
    ].join(' ');
  };
  console.log(describe('  band', band));
  console.log(describe('  tail', tail));
  const span = (gw.commits.at(-1)!.writeAt - gw.commits[0]!.writeAt) / 1000;
  const recs = gw.commits.filter((c) => c.count > 0);
  const syncs = sortNum(gw.commits.map((c) => c.syncedAt - c.writeAt).filter((x) => x > 0));
  const gcs = sortNum(gw.gc.map(([, d]) => d));
  const majors = sortNum(gw.gc.filter(([, , k]) => k === 4).map(([, d]) => d));
  console.log(
    `  commits: ${(gw.commits.length / span).toFixed(0)}/s, ${f2(mean(recs.map((c) => c.count)))} records each; write + fsync p50/p90/p99/max ${f2(q(syncs, 0.5))} / ${f2(q(syncs, 0.9))} / ${f2(q(syncs, 0.99))} / ${f2(syncs.at(-1) ?? Number.NaN)} ms; GC pauses ${gcs.length} (p50 ${f2(q(gcs, 0.5))}, max ${f2(gcs.at(-1) ?? Number.NaN)} ms), of them major ${majors.length} (max ${f2(majors.at(-1) ?? Number.NaN)} ms)`,
  );
  return out;
}
