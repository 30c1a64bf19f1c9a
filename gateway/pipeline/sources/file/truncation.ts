// A truncation of a tailed file (copytruncate, or truncated in place): the file is shorter than the
// read position, or its first bytes changed. The rest of the old content is read from the rotated
// copy when one exists (same first bytes), then reading restarts at 0. The old content is handed
// over first (recorded as read up to where records were made of it, no longer offered as the
// tracker's), so a copy that only appears after that search is read by the look for content
// rotated away (rotated-away.ts) from there. Unread content whose copy is gone is reported
// (ctx.lost), never dropped silently. Records read from the old content are committed before it
// is handed over: refused ones are read again from the copy, or, truncated in place (no copy),
// submitted again from memory (commitFromMemory), as is the partial record of a held line start.
// One job, moved out of tracker.ts; it works on the tracker's own fields.
import { basename, dirname } from 'node:path';
import type { FileTracker } from './tracker.js';
import type { LineSplitter, SplitRecord } from './splitter.js';
import type { RotatedCopy } from './tracker-context.js';
import { readHead, sameStart } from './identity.js';
import { openRotatedCopy } from './discovery.js';
import { LOOK_SLACK_MS, lossWithoutCopy } from './rotated-away.js';

/**
 * Truncation check (copytruncate, truncated in place): the open file is shorter than the read
 * position or no longer starts with the fingerprinted bytes. Returns true when it handled one.
 */
export async function checkTruncated(t: FileTracker): Promise<boolean> {
  const fh = t.fh;
  if (!fh) return false;
  // Where the tracker stands and what it emitted, taken before any await: a refusal settling
  // during the look rewinds it to its committed offset, and the records it had emitted from the
  // old content must stay known (truncated in place, they are in no file any more). Rewound
  // before the look and not read again since: where it stood before the rewind (sentNow).
  const sent = sentNow(t);
  const pos = sent.splitter.readOffset;
  const lookAt = t.ctx.now();
  const st = await fh.stat();
  let truncated = st.size < pos;
  // (Also at position 0: the file may have been truncated again before any of it was read.)
  if (!truncated && t.fp.len > 0) truncated = !(await sameStart(fh, t.fp));
  // What was known to be there before the truncation: the unread part of it is lost without a copy.
  const knownSize = t.size;
  t.size = st.size;
  // Written to (or truncated) while open: a live file, which keeps its slot until idle (open-budget.ts).
  if (st.size > knownSize || truncated) t.grewWhileOpen = true;
  if (!truncated) {
    // Empty at the last look, there are no first bytes to compare: if it changed since, content
    // may have been written and copied away (copytruncate) before t look. Once per emptiness.
    if (pos === 0 && t.fp.len === 0 && !t.detached && st.mtimeMs > t.contentSeenAt - LOOK_SLACK_MS) {
      await t.ctx.rotatedAway(t, t.contentSeenAt, []);
    }
    t.contentSeenAt = lookAt;
    return false;
  }
  t.truncations++;
  // The new content's first bytes, taken now: if the file is truncated again while the copy is
  // read (a second rotation), the next check sees it and reads the new content's copy too.
  const freshHead = await readHead(fh, Math.min(t.ctx.fingerprintBytes, st.size));
  // The bytes between our position and the truncation are in the rotated copy, if one exists.
  // (Found open: logrotate may move it on meanwhile, and another file take its name.)
  const found = await openRotatedCopy(dirname(t.path), basename(t.path), t.fp, pos, t.ctx.exclude);
  const copy = found?.path;
  if (found && t.ctx.isTracked(found.key)) {
    await found.fh.close().catch(() => undefined);
    // The copy matches the globs and is tailed on its own from where we were: leave it to it.
    t.ctx.onEvent(t, 'copytruncate', { copy, tailedSeparately: true });
    t.splitter = t.ctx.newSplitter(pos);
  } else if (found) {
    t.ctx.onEvent(t, 'copytruncate', { copy, from: pos });
    const orig = t.fh;
    let read = false;
    try {
      t.fh = found.fh;
      read = await readCopy(t);
    } finally {
      await found.fh.close().catch(() => undefined);
      t.fh = orig;
    }
    // Stopping before the copy's records were committed: nothing is handed over; the committed
    // state still names the old content, whose copy a restart reads from the committed offset.
    if (!read) return false;
  } else {
    t.ctx.onEvent(t, 'truncated', { at: pos, size: st.size });
    // Truncated in place: what was read and not committed yet is in no file any more. Committed
    // before the old content is handed over (as readCopy does: a refusal settling after the
    // handover would be ignored), refused records submitted again from memory.
    if (!(await commitFromMemory(t, sent, 'read, then truncated in place before they could be read again'))) {
      // Stopping: the rest seen on disk and never read is gone too.
      const loss = await lossWithoutCopy({ dir: dirname(t.path), base: basename(t.path), fp: t.fp, pos, knownSize, missed: 0, exclude: t.ctx.exclude });
      if (loss) t.ctx.lost(t, loss.bytes, loss.why);
      return false;
    }
  }
  // From here on the old content is not t tracker's: what was read of it is recorded, and the
  // look for content rotated away finds its copies through that record, from where it was read
  // up to. That includes a copy that a second rotation was moving on (app.log.1 to app.log.2)
  // when the search above looked, which holds the rest of a line held here: recorded as read up
  // to the line's start, the line is read whole from that copy. Held bytes no copy holds are the
  // start of a line whose rest is lost (as is the end of a copy that stops mid-line).
  const known = t.readContent();
  const lineStart = t.splitter.safeOffset();
  t.ctx.readUpTo(known.fp, found ? t.splitter.readOffset : lineStart, found?.key, known.head);
  // Content written after the last look and copied away by a rotation not seen (copytruncate
  // twice between two looks) is in newer copies: read them too. (Not for a rotated file being
  // drained: its name is not where content is written.)
  let missed: RotatedCopy[] = [];
  if (!t.detached) {
    t.handingOver = true;
    try {
      missed = await t.ctx.rotatedAway(t, t.contentSeenAt, copy === undefined ? [] : [copy]);
    } finally {
      t.handingOver = false;
    }
  }
  const late = found ? undefined : missed.find((f) => f.offset === lineStart && f.fp.hash === known.fp.hash);
  if (late) {
    // (This tracker's state moves to the new content below without passing lineStart: committed
    // past it, a restart would read the copy from the truncation's position.)
    t.ctx.onEvent(t, 'copy found late', { copy: late.path, from: lineStart });
  } else if (t.splitter.heldBytes > 0) {
    const held = t.splitter.flush();
    // Recorded as read past the held start BEFORE its partial record is submitted: emit() commits
    // the state in the same group commit as the record, so that state already says so. Recorded
    // after it (as before), a kill -9 between that commit and the next state's let a restart read
    // a copy found later from the line's start: the whole line streamed beside its partial start
    // (the copytruncate kill -9 e2e's rare extra fragment, rounds 6-11).
    if (!found) t.ctx.readUpTo(known.fp, t.splitter.readOffset, undefined, known.head);
    t.emit(
      held.map((r) => ({ ...r, partial: true })),
      0,
    );
    // Handed over already (recorded read past it) and its rest in no file: if refused, it is
    // submitted again from memory, not read again. (Stopping first: reported lost.)
    await commitFromMemory(t, sentNow(t), 'the start of a line held at the truncation (its rest in no file), emitted partial');
  }
  if (copy === undefined && !late) {
    const dir = dirname(t.path);
    const loss = await lossWithoutCopy({ dir, base: basename(t.path), fp: t.fp, pos, knownSize, missed: missed.length, exclude: t.ctx.exclude });
    if (loss) t.ctx.lost(t, loss.bytes, loss.why);
  }
  t.epoch++;
  t.rewound = undefined;
  t.fp = { hash: '', len: 0 };
  t.head = undefined;
  t.splitter = t.ctx.newSplitter(0);
  t.submittedOffset = t.committedOffset = 0;
  t.submittedHeadersLeft = t.committedHeadersLeft = t.splitter.headersLeft;
  t.size = (await fh.stat()).size;
  t.startsWith(freshHead);
  t.contentSeenAt = lookAt;
  t.emit([], 0);
  t.ctx.commitState().catch(() => undefined);
  return true;
}

/**
 * Read the copy from the tracker's position to its end, until every record read from it (and
 * before it, from the file) is committed: a refused chunk rewinds the tracker to its committed
 * offset (the copy holds the same bytes there), and after the rewind's pause it is read again.
 * Only then may the old content be handed over (recorded as read): a refusal settling after the
 * handover would be ignored (another epoch), its lines never read again. False when the source
 * stops first.
 */
async function readCopy(t: FileTracker): Promise<boolean> {
  const fh = t.fh!;
  for (;;) {
    if (t.ctx.stopping()) return false;
    await t.ctx.waitForRoom();
    const pause = t.pausedUntil - t.ctx.monotonic();
    if (pause > 0) {
      await new Promise((r) => setTimeout(r, pause));
      continue;
    }
    const buf = Buffer.allocUnsafe(t.ctx.chunkBytes);
    const epoch = t.epoch;
    const { bytesRead } = await fh.read(buf, 0, buf.length, t.splitter.readOffset);
    // A refusal settled during the read: the reader was rewound (a new splitter at the committed
    // offset), so these bytes, or this end, are not where it stands now: read again from there.
    if (t.epoch !== epoch) continue;
    if (bytesRead > 0) {
      t.bytesRead += bytesRead;
      t.emit(t.splitter.push(buf.subarray(0, bytesRead)), bytesRead);
      continue;
    }
    await t.allSettled();
    if (t.epoch === epoch) return true; // nothing refused: all of it committed
  }
}

/** What a tracker has emitted and not known committed, and the splitter that stands past it. */
interface Sent {
  epoch: number;
  splitter: LineSplitter;
  /** The records of the chunks emitted in `epoch` and not known committed, by chunk. */
  chunks: SplitRecord[][];
}

/**
 * What the tracker has emitted and not known committed. Rewound and nothing read again since (a
 * truncation seen during the rewind's pause): what it had emitted before the rewind, and where it
 * stood then; those bytes may be in no file any more either.
 */
function sentNow(t: FileTracker): Sent {
  const rw = t.rewound;
  if (rw && t.splitter === rw.fresh && rw.fresh.readOffset === rw.from) return { epoch: rw.epoch, splitter: rw.splitter, chunks: rw.chunks };
  return { epoch: t.epoch, splitter: t.splitter, chunks: t.unconfirmed() };
}

/**
 * Wait until every chunk emitted by the time of `sent` has settled. A refused one rewound the
 * tracker to its committed offset, but its bytes can no longer be read again (truncated in place,
 * or a held line start whose content was handed over): the records from that offset on are
 * submitted again from memory, the tracker standing where it stood before the rewind
 * (`sent.splitter`), after the rewind's pause, until the store takes them. At least once, as a
 * rewind: records the store took after the refused one are submitted again too. False when the
 * source stops first: the bytes not committed (`what`) are then reported lost.
 */
async function commitFromMemory(t: FileTracker, sent: Sent, what: string): Promise<boolean> {
  // Until the store has them these bytes are in memory only: the state says so (committed now, and
  // with every state until they are), so a restart after a crash reports them lost instead of
  // nothing. A crash in the moment between the store taking them and the next state reports them
  // too: over-counted then, never silent.
  if (sent.splitter.safeOffset() > t.committedOffset) {
    t.inMemoryBytes = sent.splitter.readOffset - t.committedOffset;
    void t.ctx.commitState().catch(() => undefined);
  }
  // (Not awaited: a store refusing everything at a stop must not hold the stop up.)
  const settle = (committed: boolean): boolean => {
    if (t.inMemoryBytes === undefined) return committed;
    t.inMemoryBytes = undefined;
    void t.ctx.commitState().catch(() => undefined);
    return committed;
  };
  let epoch = sent.epoch;
  for (;;) {
    await t.allSettled();
    if (t.epoch === epoch) return settle(true); // nothing refused: all of it committed
    await t.ctx.waitForRoom();
    const pause = t.pausedUntil - t.ctx.monotonic();
    if (pause > 0 && !t.ctx.stopping()) await new Promise((r) => setTimeout(r, pause));
    if (t.ctx.stopping()) {
      // Given up and reported: not offered again to a look at stop (sentNow).
      t.rewound = undefined;
      t.ctx.lost(
        t,
        sent.splitter.readOffset - t.committedOffset,
        `${what}: refused by the store (${t.lastError}), and the source stopped before the store took them`,
      );
      return settle(false);
    }
    const again = sent.chunks.flat().filter((r) => r.start >= t.committedOffset);
    epoch = t.epoch;
    t.splitter = sent.splitter;
    t.ctx.onEvent(t, 'resubmit', { from: t.committedOffset, records: again.length });
    t.emit(again, 0);
  }
}
