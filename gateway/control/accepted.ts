// The highest update document version this gateway ever accepted, kept in the store's meta area
// so it survives restarts: a replayed (older or equal) document is refused even after a reboot.
// Only the local operator (admin API / CLI) can act below it; it never goes back by itself, not even
// when the update is rolled back (by the office, or by its probation): the same document sent again
// is a replay and cannot put a failing set back.
//
// An accepted document that brings a rule set (or a rollback) has its version stored in the same
// store write as the set (RuleSetTarget apply/rollback `meta`): a kill -9 or a power cut leaves
// both (the new set runs, the version is used) or neither (the previous set runs, the same signed
// document applies when it is sent again), never the version used up with the previous set running.
import type { LocalStreams } from '../store/types.js';

const KEY = 'control/accepted-version';

export interface AcceptedRecord {
  version: number;
  at: number;
  source: string;
}

export type MetaWrite = readonly [key: string, value: Buffer];

export class AcceptedVersion {
  private current: AcceptedRecord | undefined;
  /** Accepted (current) but not known to be in the store yet. */
  private unsaved = false;

  constructor(private readonly meta: Pick<LocalStreams, 'getMeta' | 'putMeta'>) {}

  /**
   * Read the record. Without one (first start, or an upgrade from a release without it) or with an
   * unreadable one, start from `floor` (the active rule set version): nothing older than what runs
   * now is accepted, so a missing record does not open the door to replays.
   */
  async load(floor: number): Promise<void> {
    const buf = await this.meta.getMeta(KEY);
    let r: AcceptedRecord | undefined;
    try {
      r = buf ? (JSON.parse(buf.toString('utf8')) as AcceptedRecord) : undefined;
    } catch {
      r = undefined;
    }
    this.current =
      r && typeof r.version === 'number'
        ? r
        : { version: floor, at: Date.now(), source: buf ? 'unreadable record: active version' : 'active version at first start' };
    this.unsaved = false;
  }

  /** -1 when no document was ever accepted. */
  get version(): number {
    return this.current?.version ?? -1;
  }

  /**
   * Raise (never lower) the accepted version now: documents at or below it are refused from here
   * on, and the status shows it. Returns the store write that makes it durable, to commit in one
   * write with the set the document brings; then `stored()` once that write is done, else
   * `persist()` (the set was not stored: refused, unchanged). Undefined: nothing to raise.
   */
  accept(version: number, source: string): MetaWrite | undefined {
    if (version <= this.version) return undefined;
    this.current = { version, at: Date.now(), source };
    this.unsaved = true;
    return [KEY, Buffer.from(JSON.stringify(this.current))];
  }

  /** The write accept() returned was committed (with the set). */
  stored(): void {
    this.unsaved = false;
  }

  /** Write the accepted version on its own, if accept() raised it and it was not stored with a set. */
  async persist(): Promise<void> {
    if (!this.unsaved || !this.current) return;
    await this.meta.putMeta(KEY, Buffer.from(JSON.stringify(this.current)));
    this.unsaved = false;
  }
}
