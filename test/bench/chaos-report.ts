// The chaos bench's check and summary (test/bench/chaos.ts): which acknowledged ids of each leg
// never reached the upstream (dead letters apart), and the per-leg lines printed at the end.
import type { ChaosKey, ChaosSink } from './chaos-upstream.js';

/** A leg whose sender records what the gateway (or the cloud broker) acknowledged, by id. */
export interface AckedSender {
  next: number;
  ackedCount: number;
  readonly acked: Uint8Array;
  readonly ackedAt: Uint32Array;
}

export interface AckLeg {
  /** Printed name: 'MQTT', 'MQTT 5', 'cloud', 'serial', 'http'. */
  name: string;
  key: ChaosKey;
  sender: AckedSender;
  /** Who sent id i (a client's name), for the loss lines; absent when one sender. */
  whoSent?: (id: number) => string;
}

/** Runs of consecutive numbers: [first, last] pairs. */
export function runs(ids: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const i of [...ids].sort((x, y) => x - y)) {
    const last = out[out.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

/** Acknowledged ids of a leg the upstream has not received. */
export function missingOf(leg: AckLeg, upstream: ChaosSink): number[] {
  const m: number[] = [];
  for (let i = 0; i < leg.sender.next; i++) if (leg.sender.acked[i] === 1 && upstream.count(leg.key, i) === 0) m.push(i);
  return m;
}

/** The `key:id` of each dead letter whose payload carries one of the legs' ids. */
export function deadLetterIds(deadLetters: Array<{ payload?: string }>): Set<string> {
  const ids = new Set<string>();
  for (const d of deadLetters) {
    const m = /"(id|v|f|d|s|h)":(\d+)/.exec(d.payload ?? '');
    if (m) ids.add(`${m[1]}:${m[2]}`);
  }
  return ids;
}

/** The per-leg lines: acknowledged, lost (with runs of lost ids, their sender and ack times), duplicates. */
export function printLegLosses(legs: Array<{ leg: AckLeg; lost: number[] }>, upstream: ChaosSink): void {
  for (const { leg, lost } of legs) {
    console.log(
      `  ${leg.name}: ${leg.sender.ackedCount} acknowledged, ${lost.length} lost, ${upstream.duplicates(leg.key)} duplicates${lost.length ? ' <-- BROKEN PROMISE' : ''}`,
    );
    for (const [a, b] of runs(lost).slice(0, 10)) {
      const who = leg.whoSent ? new Set(Array.from({ length: b - a + 1 }, (_, k) => leg.whoSent!(a + k))) : undefined;
      console.log(
        `    lost ${leg.key} ${a}..${b} (${b - a + 1})${who ? `: ${[...who].join(',')}` : ''}, acknowledged at ${(leg.sender.ackedAt[a]! / 1000).toFixed(1)}-${(leg.sender.ackedAt[b]! / 1000).toFixed(1)} s`,
      );
    }
  }
}
