// The broker's state files (retained messages: retained-file.ts; MQTT 5 sessions: v5/session.ts)
// as a snapshot plus an append-only journal. Both files were rewritten whole (JSON.stringify of the
// full set on the main thread) after every change: 50,000 retained topics, a 1.4 MB+ file, blocked
// the event loop for tens of ms per rewrite (PUBACK latency for every device) and rewrote megabytes
// on an SD card for one changed topic.
//
// Now:
// - `<file>` is the snapshot: a header line, then one JSON record a line (the old whole-file JSON
//   still loads: the first start after an upgrade rewrites it as a snapshot);
// - `<file>.journal` gets each change as one JSON line, written in batches: the owner marks what
//   changed (a set of keys, at most one pending entry per topic or session: memory is bounded by
//   the live state, whatever the rate of changes), and one awaited write a flush, flushDelayMs
//   after the first change, takes the current value of every marked key. Changes made while a write
//   is in progress wait for the next one. A kill -9 loses at most flushDelayMs plus the write in
//   progress (and a compaction in progress, below); a power cut also what the kernel had not written
//   yet (the journal is not fsynced: this is broker state, not acknowledged data);
// - when the journal outgrows 2x the live state (and 1 MiB), and at stop, the live state is written
//   as a new snapshot (streamed in 64 KiB chunks, the event loop served between them, fsynced,
//   atomic rename) and a new journal is started. Both carry a generation number: a journal whose
//   generation is not the snapshot's (a kill between the two renames) is older and ignored.
// Loading replays the snapshot then the journal, each read once, line by line in 64 KiB chunks
// (state-lines.ts: never whole, and a FIFO or a file replaced meanwhile is not read twice), each
// record applied as it is read. A torn last journal line (kill -9 or power cut in the middle of a
// write) is ignored with a warning and counted, as is everything after the first line that does
// not parse; a snapshot with a line that does not parse is set aside as `<file>.corrupt` and the
// broker starts without that state (logged with GH_BROKER_STATE_FILE): what was applied of it
// before that line is taken back (the owner's discard).
import { access, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { StateReadError } from './state-lines.js';
import { eachRecord, linesOrUndefined, parseOrUndefined, type StateRecord } from './state-records.js';

/** What the journal asks of the state it keeps. */
export interface JournalOwner {
  /**
   * One line (JSON, no newline) for each change marked since the last call; clears the marks. The
   * lines may be made as they are iterated (the journal writes them in chunks, serving the event
   * loop between them): what a line holds is the key's value when it is made.
   */
  collect(): Iterable<string>;
  /**
   * The whole live state, one line each, made as it is iterated (never the whole as one string).
   * Starting it (the first next()) clears the marks: the snapshot reads every key after that, so a
   * change marked before is in it.
   */
  snapshot(): Iterable<string>;
  /** Bytes the live state takes in a snapshot, or undefined: the size of the last snapshot. */
  liveBytes(): number | undefined;
}

/** Problems met in the state files, counted (metrics.ts). */
export interface JournalStats {
  stateTornLines: number;
  stateCorruptFiles: number;
  stateWriteErrors: number;
}

export interface JournalOptions {
  /** The snapshot's path (mqtt-retained.json, mqtt5-sessions.json); the journal is `${file}.journal`. */
  file: string;
  /** 'mqtt-retained' or 'mqtt5-sessions': the header of both files, and what logs say. */
  kind: string;
  log: Logger;
  stats: JournalStats;
  /** Wall clock (epoch ms) for the batch and snapshot times. */
  now(): number;
  /** First change to write: at most this long. */
  flushDelayMs: number;
}

export interface LoadReport {
  /** Epoch ms of the last snapshot or journal batch written (undefined: nothing was loaded). */
  savedAt: number | undefined;
  /** Records replayed from the journal. */
  journalRecords: number;
}

/** A record of the state, as it was parsed from one line. */
export type { StateRecord } from './state-records.js';

const FORMAT_VERSION = 2;
/** Beside a file in the format of an earlier version, converted at start: that file as it was. */
export const ROLLBACK_SUFFIX = '.before-upgrade';
/** A journal smaller than this is not compacted, whatever the live state. */
const MIN_COMPACT_BYTES = 1024 * 1024;
/** Bytes of snapshot written before the event loop is served again. */
const CHUNK_BYTES = 64 * 1024;
/** After a failed write, the next try (a whole snapshot: the journal may miss a batch). */
const RETRY_MS = 5000;

export class StateJournal {
  private readonly journalFile: string;
  private fh: FileHandle | undefined;
  private gen = 0;
  private journalBytes = 0;
  private headerBytes = 0;
  private snapshotBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** A write failed: the journal may miss a batch, so the next write is a whole snapshot. */
  private broken = false;
  private owner: JournalOwner | undefined;
  private mustCompact = false;
  /** Batches and snapshots written (tests, the bench). */
  readonly written = { batches: 0, snapshots: 0, bytes: 0 };

  constructor(private readonly opts: JournalOptions) {
    this.journalFile = `${opts.file}.journal`;
  }

  /**
   * Replay the snapshot (or the old whole-file JSON: `legacy`) and the journal into the owner;
   * then start() opens the journal. Each file is read once, line by line (state-lines.ts), each
   * record applied as it is read: a snapshot found corrupt after some of its records were applied
   * is taken back with `discard` (the owner empties what it loaded), so nothing of it is applied.
   */
  async load(owner: JournalOwner, apply: (rec: StateRecord, line: string) => void, legacy: (doc: unknown) => void, discard: () => void): Promise<LoadReport> {
    this.owner = owner;
    const { file, kind, log } = this.opts;
    let savedAt: number | undefined;
    let compact = false;
    let haveSnapshot = false;
    const snapshot = await linesOrUndefined(file, log, kind);
    if (snapshot !== undefined) {
      haveSnapshot = true;
      try {
        const first = await snapshot.next();
        const header = first === undefined ? undefined : parseOrUndefined(first);
        if (header?.gatehouse === kind) {
          if (header.v !== FORMAT_VERSION) throw new Error(`format version ${String(header.v)}, this gateway reads ${FORMAT_VERSION}`);
          const bad = await eachRecord(snapshot, 2, apply);
          if (bad !== undefined) throw new Error(`line ${bad.n} is not a JSON object`);
          this.gen = typeof header.gen === 'number' ? header.gen : 0;
          savedAt = typeof header.savedAt === 'number' ? header.savedAt : undefined;
          this.snapshotBytes = snapshot.bytes;
        } else {
          // the whole-file JSON of earlier versions (generation 0), read whole (once, at the upgrade):
          // rewritten as a snapshot below
          const rest = first === undefined ? '' : await snapshot.rest();
          const raw = first === undefined ? '' : snapshot.ended ? `${first}\n${rest}` : first;
          this.snapshotBytes = Buffer.byteLength(raw);
          const doc = JSON.parse(raw) as { savedAt?: unknown };
          if (typeof doc !== 'object' || doc === null) throw new Error('not a JSON object');
          legacy(doc);
          savedAt = typeof doc.savedAt === 'number' ? doc.savedAt : undefined;
          compact = true;
          await this.keepForRollback(raw);
        }
      } catch (err) {
        discard();
        await snapshot.close();
        if (err instanceof StateReadError) {
          // as a file that cannot be opened: the owner starts empty, and a new snapshot replaces it
          log.warn({ err: errorMessage(err), file, code: 'GH_BROKER_STATE_FILE' }, `cannot read ${kind} state: starting without it`);
          haveSnapshot = false;
        } else {
          this.opts.stats.stateCorruptFiles++;
          log.error(
            { err: errorMessage(err), file, code: 'GH_BROKER_STATE_FILE', setAside: `${file}.corrupt` },
            `${kind} state file is corrupt: starting without it (kept as ${file}.corrupt for inspection)`,
          );
          await rename(file, `${file}.corrupt`).catch(() => undefined);
          // nothing of it is applied (discarded above): the owner starts empty, and the journal
          // beside it is skipped (its changes apply to that snapshot); a generation of its own so
          // that journal is never read with the next snapshot
          this.gen = Math.floor(this.opts.now() / 1000);
          this.mustCompact = true;
          return { savedAt: undefined, journalRecords: 0 };
        }
      }
      await snapshot.close();
    }
    let journalRecords = 0;
    const journal = await linesOrUndefined(this.journalFile, log, kind);
    if (journal !== undefined) {
      try {
        const first = await journal.next();
        const header = first === undefined ? undefined : parseOrUndefined(first);
        if (header?.gatehouse !== `${kind}-journal` || header.gen !== this.gen || (!haveSnapshot && this.gen !== 0)) {
          // older than the snapshot (a kill between a compaction's two renames), or not ours
          log.info({ file: this.journalFile, gen: header?.gen, snapshotGen: this.gen }, 'broker state journal older than its snapshot: ignored');
          compact = true;
        } else {
          const torn = await eachRecord(journal, 2, (rec, line) => {
            if (typeof rec.at === 'number') savedAt = rec.at;
            else {
              apply(rec, line);
              journalRecords++;
            }
          });
          if (torn !== undefined) {
            // this line and every one after it (read to count them, not parsed)
            let ignored = torn.after.filter((l) => l !== '').length + (torn.line === '' ? 0 : 1);
            for (let rest = await journal.next(); rest !== undefined; rest = await journal.next()) if (rest !== '') ignored++;
            this.opts.stats.stateTornLines += ignored;
            log.warn(
              { file: this.journalFile, line: torn.n, ignoredLines: ignored, code: 'GH_BROKER_STATE_FILE' },
              `${kind} journal: line ${torn.n} is torn or corrupt (a kill -9 or power cut during a write): it and the ${ignored - 1} line(s) after it are ignored`,
            );
            compact = true;
          }
        }
      } catch (err) {
        if (!(err instanceof StateReadError)) throw err;
        // what was read is applied (a prefix of the changes, as a torn end gives); the rest is lost
        log.warn(
          { err: errorMessage(err), file: this.journalFile, code: 'GH_BROKER_STATE_FILE' },
          `cannot read the rest of the ${kind} journal: starting with the changes read before it`,
        );
        compact = true;
      } finally {
        this.journalBytes = journal.bytes;
        await journal.close();
      }
    } else if (haveSnapshot) {
      compact = true; // a journal is always made with its snapshot: start one
    }
    this.mustCompact = compact || !haveSnapshot;
    return { savedAt, journalRecords };
  }

  /**
   * A version before the snapshot reads it as corrupt and writes its empty file over it: the file
   * as it wrote it is kept beside, to put back after a rollback (docs/upgrading.md). A copy kept
   * before is never replaced (a rollback that did not put it back, then this upgrade again, would
   * replace it with the older version's empty file).
   */
  private async keepForRollback(raw: string): Promise<void> {
    const { file, kind, log } = this.opts;
    const first = `${file}${ROLLBACK_SUFFIX}`;
    const kept = (await exists(first)) ? `${first}.${this.opts.now()}` : first;
    try {
      await writeAtomically(`${kept}.tmp`, kept, raw);
      log.info(
        { file, kind, kept },
        `broker state file in the format of an earlier version: rewritten as snapshot + journal; the file as that version wrote it is kept as ${kept} (after a rollback to it, stopped: put it back as ${file})`,
      );
    } catch (err) {
      log.warn(
        { err: errorMessage(err), file, kind, code: 'GH_BROKER_STATE_FILE' },
        `broker state file in the format of an earlier version: rewritten as snapshot + journal; no copy of it for a rollback could be written to ${kept}: keep a copy of ${file} yourself (docs/upgrading.md)`,
      );
    }
  }

  /**
   * After load(), with the owner holding what was loaded: open the journal for appending, or first
   * write a snapshot (a torn journal, an old format, a corrupt snapshot, a journal too large).
   */
  async start(): Promise<void> {
    if (this.closed) return; // closed while its owner loaded: nothing to open (the owner's broker waits for its start)
    if (this.mustCompact || this.journalBytes > this.threshold()) await this.compact();
    else {
      this.headerBytes = Buffer.byteLength(this.journalHeader());
      this.fh = await open(this.journalFile, 'a');
    }
    this.mustCompact = false;
  }

  private journalHeader(gen = this.gen): string {
    return `${JSON.stringify({ gatehouse: `${this.opts.kind}-journal`, v: FORMAT_VERSION, gen })}\n`;
  }

  /** Something changed: it is written within flushDelayMs. */
  touch(): void {
    // after a failed write the retry timer is armed: it writes everything, changes wait as marks
    if (this.closed || this.timer || !this.owner || this.broken) return;
    this.timer = setTimeout(() => {
      this.chain = this.chain.then(() => {
        this.timer = undefined;
        return this.broken ? this.compact() : this.flush();
      });
    }, this.opts.flushDelayMs);
    this.timer.unref();
  }

  private threshold(): number {
    return Math.max(MIN_COMPACT_BYTES, 2 * (this.owner?.liveBytes() ?? this.snapshotBytes));
  }

  /** Append what changed as one batch; compact when the journal outgrew the live state. */
  private async flush(): Promise<void> {
    if (!this.fh || !this.owner) return;
    const lines = this.owner.collect()[Symbol.iterator]();
    const first = lines.next();
    if (first.done === true) return;
    try {
      // (a batch is written in chunks as a snapshot is: its lines made one by one, not the whole
      // batch as one string; a kill in the middle leaves a prefix of it, as a torn write did)
      const bytes = await writeLines(this.fh, `{"at":${this.opts.now()}}\n${first.value}\n`, { [Symbol.iterator]: () => lines });
      this.journalBytes += bytes;
      this.written.batches++;
      this.written.bytes += bytes;
    } catch (err) {
      return this.failed(err);
    }
    if (this.journalBytes - this.headerBytes > this.threshold()) await this.compact();
  }

  private failed(err: unknown): void {
    this.opts.stats.stateWriteErrors++;
    if (!this.broken)
      this.opts.log.warn(
        { err: errorMessage(err), file: this.opts.file, code: 'GH_BROKER_STATE_FILE', retryMs: RETRY_MS },
        `cannot write ${this.opts.kind} state: retrying as a whole snapshot every ${RETRY_MS / 1000} s (free disk space); a restart meanwhile loses the changes since`,
      );
    this.broken = true;
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.chain = this.chain.then(() => {
        this.timer = undefined;
        return this.compact();
      });
    }, RETRY_MS);
    this.timer.unref();
  }

  /**
   * Write the live state as a new snapshot (generation + 1), then start its journal. Streamed: the
   * event loop is served between chunks. Changes meanwhile wait (marked) for the next flush.
   */
  private async compact(): Promise<void> {
    if (!this.owner) return;
    const { file, kind } = this.opts;
    const gen = this.gen + 1;
    const tmp = `${file}.tmp`;
    let out: FileHandle | undefined;
    try {
      out = await open(tmp, 'w');
      const bytes = await writeLines(out, `${JSON.stringify({ gatehouse: kind, v: FORMAT_VERSION, gen, savedAt: this.opts.now() })}\n`, this.owner.snapshot());
      await out.sync();
      await out.close();
      out = undefined;
      await rename(tmp, file);
      // from here the snapshot holds everything: an older journal beside it is ignored at load
      this.gen = gen;
      this.snapshotBytes = bytes;
      await this.fh?.close().catch(() => undefined);
      this.fh = undefined;
      const header = this.journalHeader(gen);
      await writeAtomically(`${this.journalFile}.tmp`, this.journalFile, header);
      this.fh = await open(this.journalFile, 'a');
      this.journalBytes = this.headerBytes = Buffer.byteLength(header);
      this.broken = false;
      this.written.snapshots++;
      this.written.bytes += bytes + this.headerBytes;
    } catch (err) {
      await out?.close().catch(() => undefined);
      // a partial snapshot must not hold the space a full disk needs back
      await unlink(tmp).catch(() => undefined);
      this.failed(err);
    }
  }

  /** Write what is pending, then a final snapshot (when the journal holds anything), and stop. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    if (this.owner) {
      if (!this.broken) await this.flush();
      if (this.broken || this.journalBytes > this.headerBytes) await this.compact();
    }
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }
}

/**
 * `head`, then each of `lines` and a newline, written to `fh` in chunks of ~CHUNK_BYTES: a line is
 * made (by the owner's iterator) only when the chunk before it is written, and the event loop is
 * served between chunks. Returns the bytes written.
 */
async function writeLines(fh: FileHandle, head: string, lines: Iterable<string>): Promise<number> {
  let bytes = 0;
  let chunk = head;
  for (const line of lines) {
    chunk += `${line}\n`;
    if (chunk.length >= CHUNK_BYTES) {
      bytes += (await fh.write(chunk)).bytesWritten;
      chunk = '';
    }
  }
  if (chunk !== '') bytes += (await fh.write(chunk)).bytesWritten;
  return bytes;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function writeAtomically(tmp: string, file: string, text: string): Promise<void> {
  const fh = await open(tmp, 'w');
  try {
    await fh.write(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
