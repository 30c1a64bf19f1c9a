// A merged read the device refused (exception 0x02/0x03) is split into one request per tag
// (group-poll.ts), so the refusal lands on the tag that caused it. The split was for good: a
// refusal that passed (a PLC being reprogrammed, its data block missing for a moment, a TCP
// gateway's hiccup) left the group reading tag by tag until a restart, 20 requests a poll where 1
// did, 400 for a plant's 400 tags (found in a plant trial). Once every part of a split request has
// read in `remergeAfter` polls in a row, the merged request is put back as a probe: read whole, it
// stays; refused again, it is split again without a tag error (the probe is ours, not the
// device's fault) and waits twice as many polls before the next probe, so a device that refuses
// the range for good (a hole between its tags) costs one request per ever longer period.
import type { PlannedTag, ReadRequest } from './planner.js';

/** Polls in a row every part must read before the first probe; doubled after each refused probe. */
export const REMERGE_AFTER = 10;
const REMERGE_MAX = 10_000;

/** After a poll: `requests` (in place) gets back each merged request whose parts all read (`read`) long enough. */
export function remergeReadable<T extends PlannedTag>(requests: ReadRequest<T>[], read: ReadonlySet<ReadRequest<T>>): void {
  const originals = new Set<ReadRequest<T>>();
  for (const r of requests) if (r.mergedFrom) originals.add(r.mergedFrom);
  for (const o of originals) {
    const parts = requests.filter((r) => r.mergedFrom === o);
    o.readablePolls = parts.every((p) => read.has(p)) ? (o.readablePolls ?? 0) + 1 : 0;
    if (o.readablePolls < (o.remergeAfter ?? REMERGE_AFTER)) continue;
    const at = requests.indexOf(parts[0] as ReadRequest<T>);
    requests.splice(at, parts.length, o);
    o.readablePolls = 0;
    o.probe = true;
  }
}

/** A probe the device refused: split again (by the caller), and the next probe waits twice as long. */
export function probeRefused<T extends PlannedTag>(req: ReadRequest<T>): void {
  req.probe = false;
  req.readablePolls = 0;
  req.remergeAfter = Math.min((req.remergeAfter ?? REMERGE_AFTER) * 2, REMERGE_MAX);
}

/** A probe read whole: the request is merged again. */
export function probeRead<T extends PlannedTag>(req: ReadRequest<T>): void {
  req.probe = false;
  req.remergeAfter = undefined;
}
