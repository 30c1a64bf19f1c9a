// The highest update document version this gateway ever accepted, kept in the store's meta area
// so it survives restarts: a replayed (older or equal) document is refused even after a reboot.
// Only the local operator (admin API / CLI) can act below it; it never goes back by itself, not even
// when the update is rolled back (by the office, or by its probation): the same document sent again
// is a replay and cannot put a failing set back.
import type { LocalStreams } from '../store/types.js';

const KEY = 'control/accepted-version';

export interface AcceptedRecord {
  version: number;
  at: number;
  source: string;
}

export class AcceptedVersion {
  private current: AcceptedRecord | undefined;

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
  }

  /** -1 when no document was ever accepted. */
  get version(): number {
    return this.current?.version ?? -1;
  }

  /** Raise (never lower) the accepted version; durable when resolved. */
  async record(version: number, source: string): Promise<void> {
    if (version <= this.version) return;
    const r = { version, at: Date.now(), source };
    await this.meta.putMeta(KEY, Buffer.from(JSON.stringify(r)));
    this.current = r;
  }
}
