// Request planner: the tags of a poll group -> the fewest read requests within the protocol's
// limits (125 registers per FC3/FC4 read, 2,000 bits per FC1/FC2 read). Tags of one table whose
// ranges are adjacent (or `mergeGap` apart at most) share a request. A request the device refuses
// with "illegal data address" is split into one request per tag (splitRequest), so the exception
// lands on the tag that caused it and the others keep being read; once every part reads for a
// while, the merged request is tried again (remerge.ts).
import type { Area } from './options.js';

export const MAX_REGISTERS = 125;
export const MAX_BITS = 2000;

export interface PlannedTag {
  area: Area;
  address: number;
  /** Registers (holding/input) or bits (coil/discrete). */
  size: number;
}

export interface ReadRequest<T extends PlannedTag> {
  area: Area;
  address: number;
  count: number;
  tags: T[];
  /** A request of one tag split from a refused merged request: that request (remerge.ts). */
  mergedFrom?: ReadRequest<T>;
  /** A merged request put back after its parts all read (remerge.ts): its refusal is no tag error. */
  probe?: boolean;
  /** Polls in a row every part of this split request read; and how many a re-merge waits for. */
  readablePolls?: number;
  remergeAfter?: number;
}

export function limitOf(area: Area): number {
  return area === 'coil' || area === 'discrete' ? MAX_BITS : MAX_REGISTERS;
}

export function planReads<T extends PlannedTag>(tags: readonly T[], mergeGap = 0): ReadRequest<T>[] {
  const out: ReadRequest<T>[] = [];
  const sorted = [...tags].sort((a, b) => (a.area === b.area ? a.address - b.address : a.area < b.area ? -1 : 1));
  let current: ReadRequest<T> | undefined;
  for (const tag of sorted) {
    const end = tag.address + tag.size; // exclusive
    if (
      current &&
      current.area === tag.area &&
      tag.address <= current.address + current.count + mergeGap &&
      Math.max(end, current.address + current.count) - current.address <= limitOf(tag.area)
    ) {
      current.count = Math.max(end, current.address + current.count) - current.address;
      current.tags.push(tag);
      continue;
    }
    current = { area: tag.area, address: tag.address, count: tag.size, tags: [tag] };
    out.push(current);
  }
  return out;
}

/** One request per tag of `req` (used after the device refused the merged range). */
export function splitRequest<T extends PlannedTag>(req: ReadRequest<T>): ReadRequest<T>[] {
  return req.tags.map((tag) => ({ area: tag.area, address: tag.address, count: tag.size, tags: [tag], mergedFrom: req }));
}
