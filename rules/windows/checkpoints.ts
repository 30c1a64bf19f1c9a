// Rule state in the store, for persistence.ts, which decides when: one rule's checkpoint (its
// snapshot and, in durable mode, its position), a round that writes every rule changed since its
// last checkpoint and then reclaims the input log behind the round's cover, and reading the
// checkpoints back when a rule set is installed. Separate because this is the store I/O with its
// failure handling (counted, logged, the rule marked dirty to be written again); persistence.ts
// keeps the schedule, the replay and the emission marker, the host (host.ts) the live rules.
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import type { CompiledQuery } from '../sql/compile-types.js';
import type { CompiledRule, CompiledRuleSet } from '../ruleset.js';
import type { InputJournal } from './journal.js';
import { parsePosition, type Position } from './recovery.js';
import { isStateful, restoreQuery, snapshotQuery, stateKey, type StateStore } from './state.js';

/** A live stateful rule, as the host keeps it between checkpoints. */
export interface Live extends Position {
  rule: CompiledRule;
  key: string;
  query: CompiledQuery;
  dirty: boolean;
  lastMatched: number;
  /** Rows up to this count are committed (emission marker read at start; replay suppresses them). */
  committedRows: number;
  marker: { inFlight: boolean; wanted: boolean };
}

/** A failing checkpoint is said at once, then at most once a minute per error with the count. */
const FAIL_LOG_EVERY_MS = 60_000;

export class RuleCheckpoints {
  readonly checkpoints = { ok: 0, failed: 0 };
  readonly restores = { ok: 0, failed: 0 };
  /**
   * 'rule state checkpoint failed' came at every checkpoint of every stateful rule for as long as
   * the store refused writes (a card failing writes with EIO: 40 lines in 2 s at
   * checkpointIntervalMs 50, 360 an hour per rule at the default 10 s). Now: the first failure at
   * once, then one line a minute per error (`suppressed`), and one line when checkpoints are
   * written again (`failures`, `failingMs`). checkpoints.failed (the metric) counts each.
   */
  private readonly failLog: RateLog;
  private readonly worksLog: RateLog;
  /** Since when (monotonic) checkpoints fail and how many failed since; undefined while they work. */
  private failing: { since: number; failures: number } | undefined;

  constructor(
    private readonly store: StateStore | undefined,
    /** Durable mode only: checkpoints record their position and rounds reclaim the log. */
    private readonly journal: InputJournal | undefined,
    private readonly log: Logger,
    /** Elapsed time (the host's timers' monotonic clock): paces the failure lines. */
    private readonly monotonic: () => number,
  ) {
    this.failLog = rateLimitedLog(log, 'warn', FAIL_LOG_EVERY_MS, monotonic);
    this.worksLog = rateLimitedLog(log, 'info', FAIL_LOG_EVERY_MS, monotonic);
  }

  /**
   * Write the state of every rule that changed since its last checkpoint. The snapshots are taken
   * together, synchronously, at one input number (the round's cover); once all are written, the
   * input log behind the cover is reclaimed. Resolves with the bytes of state written (the
   * host's write budget).
   */
  async round(live: Iterable<Live>): Promise<number> {
    const j = this.journal;
    const round = j?.beginRound();
    const writes: Array<Promise<boolean>> = [];
    const written = { bytes: 0 };
    for (const entry of [...live]) {
      const matched = entry.rule.stats.matched;
      if (!entry.dirty && matched === entry.lastMatched) continue;
      entry.dirty = false;
      entry.lastMatched = matched;
      writes.push(this.save(entry, round?.cover ?? 0, written));
    }
    if (!j || !round) {
      await Promise.all(writes);
      return written.bytes;
    }
    if (writes.length > 0) {
      const [k, v] = j.counterMeta();
      writes.push(
        j.log.commitMeta(k, v).then(
          () => true,
          () => false,
        ),
      );
    }
    if ((await Promise.all(writes)).every(Boolean)) {
      await j.endRound(round).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'input log not reclaimed'));
    } else {
      j.dropRound(round);
    }
    return written.bytes;
  }

  /** Snapshot now (synchronously), write it; resolves false when the write failed. */
  async save(entry: Live, cover: number, written?: { bytes: number }): Promise<boolean> {
    const store = this.store;
    if (!store) return true;
    try {
      const extra: Array<[string, Buffer]> = this.journal
        ? [['pos', Buffer.from(JSON.stringify({ n: cover, r: entry.r, e: entry.e } satisfies Position), 'utf8')]]
        : [];
      const snapshot = snapshotQuery(entry.query, extra);
      if (written) written.bytes += snapshot.length;
      await store.put(entry.key, snapshot);
      this.checkpoints.ok++;
      const f = this.failing;
      if (f) {
        this.failing = undefined;
        this.worksLog(
          'works',
          { rule: entry.rule.name, failures: f.failures, failingMs: Math.round(this.monotonic() - f.since) },
          'rule state checkpoints work again',
        );
      }
      return true;
    } catch (err) {
      entry.dirty = true;
      this.checkpoints.failed++;
      this.failing ??= { since: this.monotonic(), failures: 0 };
      this.failing.failures++;
      const message = errorMessage(err);
      // Keyed by the error's code (its first line when it has none): another fault still shows at once.
      const code = (err as { code?: unknown } | undefined)?.code;
      this.failLog(
        typeof code === 'string' ? code : message.split('\n', 1)[0]!.slice(0, 120),
        { rule: entry.rule.name, err: message, failures: this.failing.failures },
        'rule state checkpoint failed',
      );
      return false;
    }
  }

  /**
   * Restore, from the store, the state of the stateful rules of `set` that are not live yet
   * (start-up, or a rule set that adds rules). Corrupt or foreign state is logged and ignored.
   * `liveRule` is asked again after every read (a swap may replace the live rules meanwhile);
   * positions of rules not attached yet go to `pending`, for attach() to pick up.
   */
  async restore(set: CompiledRuleSet, liveRule: (name: string) => Live | undefined, pending: Map<string, Position>): Promise<void> {
    const store = this.store;
    if (!store) return;
    for (const rule of set.rules) {
      if (!rule.enabled || !isStateful(rule.query)) continue;
      const key = stateKey(rule.name, rule.query);
      const live = liveRule(rule.name);
      if (live && live.key === key && live.query !== rule.query) continue; // will keep its live state on swap
      let bytes: Buffer | undefined;
      try {
        bytes = await store.get(key);
        if (!bytes) {
          // Start-up, no checkpoint: a rule new in this run (a checkpoint is written as soon as a
          // rule is attached, before any input reaches it), so no logged input is its own.
          if (live && live.query === rule.query) live.n = Infinity;
          continue;
        }
        const startUp = live !== undefined && live.query === rule.query;
        // A rule coming back in a running set (reverted SQL, re-enabled) keeps what its detectors
        // learnt, but not its windows: the inputs of its time away never reached them, and a
        // window of then would close at once with part of its events.
        const sections = restoreQuery(rule.query, bytes, startUp);
        const pos = parsePosition(sections.get('pos'));
        // Every call site is in every checkpoint of the same SQL: one missing was named otherwise
        // by the version that wrote it (an upgrade or a rollback), and starts fresh: said, not silent.
        const fresh = (rule.query.stateSites ?? []).filter((s) => !sections.has(`site:${s.key}`)).map((s) => s.key);
        if (fresh.length > 0) {
          this.log.warn(
            { rule: rule.name, calls: fresh, kept: [...sections.keys()].filter((k) => k.startsWith('site:')).map((k) => k.slice(5)) },
            `rule state of ${rule.name}: ${fresh.length} detector call(s) not in its checkpoint (written by a gateway version that names them otherwise): they start fresh and learn again`,
          );
        }
        if (startUp) {
          // Start-up: the entry exists; the replay continues from the input its checkpoint covers.
          live.n = pos?.n ?? 0;
          if (pos) {
            live.r = pos.r;
            live.e = pos.e;
          }
        } else if (pos) {
          pending.set(rule.name, pos);
        }
        this.restores.ok++;
        this.log.info({ rule: rule.name, bytes: bytes.length, covers: pos?.n }, 'rule state restored');
      } catch (err) {
        this.restores.failed++;
        this.log.warn({ rule: rule.name, err: errorMessage(err) }, 'rule state not restored: starting fresh');
      }
    }
  }
}
