// Dead letters an operator can read, send again and clear: the dead-letter streams (an exporter's
// `<stream>-dlq` or deadLetterStream, and those a retired rule action left), summed up with their
// errors grouped; a redrive that appends each dead letter back to the stream it came from (its
// `sourceStream` attribute, or the stream ?to= names) and only then removes it from the dead-letter
// stream; a purge that removes the dead letters through a sequence the operator read. Users of SQS
// know both as redrive and purge.
//
// At least once: a redrive works through the dead letters a chunk at a time (bounded memory; the
// appends of a chunk share a group commit, their durability awaited, a full stream's backpressure
// waited out like any append), and removes a chunk (store trimThrough, one write) only after its
// appends are on disk. A kill -9 between the two leaves a chunk in both streams: sent twice, never
// lost. It stops at the dead-letter stream's last record at the start, so a record its destination
// refuses again (dead-lettered once more while the redrive runs) is not sent round in a loop.
//
// One operation at a time per stream (stream-operations.ts): a second redrive, a purge or a drop
// of the stream while a redrive runs is refused (GH_STREAM_BUSY), never interleaved with it. A
// redrive whose client went away (the CLI killed, a proxy's timeout) stops at the next chunk
// boundary, where every dead letter is in exactly one of the two streams, and logs how far it
// got: nobody reads its answer, and the operator who sends it again finds the rest where it was.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import type { AppendRecord, LocalStreams, StoredRecord } from '../store/types.js';
import { deadLetterChunks, summarize, type DeadLetterSummary } from './dead-letter-summary.js';
import { createStreamOperations, type StreamOperations } from './stream-operations.js';

export type { DeadLetterSummary, ErrorGroup } from './dead-letter-summary.js';

/** The attributes an exporter gives a dead letter (upstream/outcomes.ts): dropped when it is sent again. */
const DEAD_LETTER_ATTRS: ReadonlySet<string> = new Set(['error', 'sourceStream', 'sourceSeq', 'destination', 'attempts']);
/** The attribute a redriven record carries: the id it had when its destination first refused it (`<stream>:<seq>`). */
export const REDRIVEN_ATTR = 'redrivenFrom';

export interface DeadLetterParts {
  streams: LocalStreams;
  /** The running exporters: their streams (sources, never dead letters) and every dead-letter stream they write. */
  exporters: { status(): ReadonlyArray<{ name: string; stream: string }>; streamsUsed(): Set<string> };
  /** An exporter's dead-letter stream (its deadLetterStream option; default `<stream>-dlq`). */
  deadLetterStreamOf?(exporter: { name: string; stream: string }): string;
  /** Streams the config defines (`streams:`). */
  configured: ReadonlySet<string>;
  /** A dead-letter stream that goes once emptied: a retired rule action's (`<kind>-<hash>-dlq`). */
  retiredDeadLetters: RegExp;
  /**
   * Whether nothing uses the stream (admin/stream-drop.ts usedBy): a dead-letter stream no exporter
   * or rule writes, emptied, goes too (one an exporter removed from the config left). Absent: only
   * those retiredDeadLetters names.
   */
  unused?(name: string): boolean;
  /** The gateway's own streams ($rule-inputs). */
  isInternal(name: string): boolean;
  /** The operations running per stream, shared with the stream drop (default: this module's own). */
  operations?: StreamOperations;
  /** Runs `work` while no rule-set update runs (stream-drop.ts): an emptied stream's check and drop, as one step. */
  withoutRuleUpdate?<T>(work: () => Promise<T>): Promise<T>;
  registry: Registry;
  logger: Logger;
}

export interface RedriveOptions {
  /** The last sequence to redrive (default: the last held when the redrive starts). */
  through?: number;
  /** At most this many dead letters. */
  limit?: number;
  /** Append to this stream instead of each record's sourceStream. */
  to?: string;
  /** Aborted when the request's client went away: the redrive stops at the next chunk boundary. */
  signal?: AbortSignal;
}

export interface RedriveResult {
  stream: string;
  redriven: number;
  /** How many went into each stream. */
  to: Record<string, number>;
  /** Redriven through this sequence. */
  through: number;
  /** The dead-letter stream now: its first sequence held and what it holds. */
  firstSeq: number;
  records: number;
  /** The dead-letter stream went away (emptied, and no exporter or rule writes it any more). */
  dropped: boolean;
}

export interface PurgeResult {
  stream: string;
  purged: number;
  through: number;
  firstSeq: number;
  records: number;
  dropped: boolean;
}

export interface DeadLetterOps {
  /** Every dead-letter stream, or the one named (GH_STREAM_UNKNOWN, GH_NOT_DEAD_LETTERS). */
  list(name?: string): Promise<DeadLetterSummary[]>;
  redrive(name: string, options: RedriveOptions): Promise<RedriveResult>;
  /** through 'last': every dead letter held now. */
  purge(name: string, through: number | 'last'): Promise<PurgeResult>;
  /** The dead-letter streams there are now (by name: cheap, no record read). */
  names(): string[];
}

function badRequest(reason: string, hint?: string): GatehouseError {
  return ERRORS.GH_ADMIN_BAD_REQUEST({ reason }, hint === undefined ? {} : { hint });
}

/** The record to append again: topic, payload, key and receivedAt as they were, the dead-letter attributes dropped. */
export function redrivenRecord(r: StoredRecord): AppendRecord {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.attrs ?? {})) if (!DEAD_LETTER_ATTRS.has(k) && k !== REDRIVEN_ATTR) attrs[k] = v;
  // Refused again and redriven again: it keeps the id of its first refusal.
  attrs[REDRIVEN_ATTR] = r.attrs?.[REDRIVEN_ATTR] ?? `${r.attrs?.sourceStream ?? r.stream}:${r.attrs?.sourceSeq ?? r.seq}`;
  const out: AppendRecord = { topic: r.topic, payload: r.payload, receivedAt: r.receivedAt, attrs };
  if (r.key !== undefined) out.key = r.key;
  return out;
}

export function createDeadLetterOps(p: DeadLetterParts): DeadLetterOps {
  const { streams } = p;
  const log = p.logger.child({ component: 'dead-letters' });
  const redriven = counter(
    p.registry,
    'gatehouse_dead_letters_redriven_total',
    'Dead letters appended back to their stream (or the one a redrive named) and removed from the dead-letter stream, by dead-letter stream',
    ['stream'],
  );
  const purged = counter(p.registry, 'gatehouse_dead_letters_purged_total', 'Dead letters removed by a purge, by dead-letter stream', ['stream']);
  const operations = p.operations ?? createStreamOperations();

  /** Why `name` is not a dead-letter stream, or undefined when it is one. */
  function notDeadLetters(name: string): string | undefined {
    if (p.isInternal(name)) return "it is the gateway's own stream";
    const sender = p.exporters.status().find((e) => e.stream === name);
    if (sender) return `exporter '${sender.name}' sends it: its records leave it once exported`;
    if (p.exporters.streamsUsed().has(name)) return undefined;
    if (!name.endsWith('-dlq')) return 'no exporter puts its dead letters there';
    if (p.configured.has(name)) return 'it is defined under streams in the config and no exporter puts its dead letters there';
    return undefined; // a dead-letter stream an exporter no longer running left (a retired rule action's)
  }

  function deadLetterStream(name: string): void {
    if (!streams.hasStream(name)) {
      throw ERRORS.GH_STREAM_UNKNOWN({ stream: name }, { hint: `known dead-letter streams: ${deadLetterNames().join(', ') || '(none)'}` });
    }
    const reason = notDeadLetters(name);
    if (reason !== undefined) throw ERRORS.GH_NOT_DEAD_LETTERS({ stream: name, reason }, { where: name });
  }

  function deadLetterNames(): string[] {
    return streams.streamNames().filter((n) => notDeadLetters(n) === undefined);
  }

  /** The exporters writing their dead letters there. */
  function exportersOf(name: string): string[] {
    const of = p.deadLetterStreamOf ?? ((e: { stream: string }) => `${e.stream}-dlq`);
    return p.exporters
      .status()
      .filter((e) => of(e) === name)
      .map((e) => e.name);
  }

  /** The sequence `through` names: at most the last held, refused beyond it (the operator read no such record). */
  function endOf(name: string, through: number | undefined): number {
    const last = streams.info(name).lastSeq;
    if (through === undefined) return last;
    if (through > last) {
      throw badRequest(
        `through=${through} is past the last dead letter of '${name}' (seq ${last})`,
        `use through=${last} (or through=last), after reading them`,
      );
    }
    return through;
  }

  /** Why dead letters cannot go into `target`, or undefined. */
  function targetProblem(dlq: string, target: string): string | undefined {
    if (target === dlq) return 'it is the dead-letter stream itself';
    if (!streams.hasStream(target)) return "it does not exist any more (a retired rule action's stream is dropped once drained)";
    if (notDeadLetters(target) === undefined) return 'it is a dead-letter stream';
    if (!p.exporters.status().some((e) => e.stream === target)) return 'no exporter sends it, so the records would stay there';
    return undefined;
  }

  /** Every target of the dead letters to redrive is checked before one moves: all go, or none. */
  async function checkTargets(name: string, end: number, max: number, to: string | undefined): Promise<void> {
    const seen = new Set<string>();
    const check = (target: string, seq: number | undefined): void => {
      if (seen.has(target)) return;
      seen.add(target);
      const problem = targetProblem(name, target);
      if (problem === undefined) return;
      const first = seq === undefined ? '' : ` (dead letter ${seq} came from it)`;
      throw ERRORS.GH_REDRIVE_TARGET({ stream: name, target, reason: `${problem}${first}` }, { where: name });
    };
    if (to !== undefined) return check(to, undefined);
    for await (const recs of deadLetterChunks(streams, name, end, max)) {
      for (const r of recs) {
        const src = r.attrs?.sourceStream;
        if (src === undefined) {
          throw ERRORS.GH_REDRIVE_TARGET(
            { stream: name, target: '(none)', reason: `dead letter ${r.seq} carries no sourceStream attribute` },
            { where: name, hint: 'name the stream to send them to with ?to=STREAM (`gatehouse streams redrive DLQ --to STREAM`)' },
          );
        }
        check(src, r.seq);
      }
    }
  }

  /** A dead-letter stream nothing writes any more (a retired rule action's, one a removed exporter left), emptied, goes (store.dropStreams) with its series. */
  function dropIfRetired(name: string): Promise<boolean> {
    return p.withoutRuleUpdate ? p.withoutRuleUpdate(() => dropIfUnused(name)) : dropIfUnused(name);
  }

  async function dropIfUnused(name: string): Promise<boolean> {
    if (p.exporters.streamsUsed().has(name) || p.configured.has(name)) return false;
    if (!(p.unused ? p.unused(name) : p.retiredDeadLetters.test(name))) return false;
    if (!streams.dropStreams || streams.info(name).records > 0) return false;
    try {
      const dropped = await streams.dropStreams([name]);
      if (dropped.length === 0) return false;
    } catch (err) {
      // Appended to meanwhile, or read: it stays, and the next start's sweep drops it once empty.
      log.debug({ err, stream: name }, 'an emptied dead-letter stream nothing writes any more was not dropped');
      return false;
    }
    redriven.remove({ stream: name });
    purged.remove({ stream: name });
    log.info({ stream: name }, 'dead-letter stream nothing writes any more emptied: dropped');
    return true;
  }

  function trimmer(): NonNullable<LocalStreams['trimThrough']> {
    if (!streams.trimThrough) throw ERRORS.GH_INTERNAL({ reason: 'this store cannot remove records (no trimThrough)' });
    return streams.trimThrough.bind(streams);
  }

  function after(name: string, dropped: boolean): { firstSeq: number; records: number; dropped: boolean } {
    if (dropped) return { firstSeq: 0, records: 0, dropped };
    const info = streams.info(name);
    return { firstSeq: info.firstSeq, records: info.records, dropped };
  }

  return {
    names: deadLetterNames,
    async list(name) {
      if (name !== undefined) {
        deadLetterStream(name);
        return [{ ...(await summarize(streams, name, exportersOf(name))), running: operations.running(name) ?? null }];
      }
      const out: DeadLetterSummary[] = [];
      for (const n of deadLetterNames()) out.push({ ...(await summarize(streams, n, exportersOf(n))), running: operations.running(n) ?? null });
      return out;
    },

    redrive(name, options) {
      deadLetterStream(name);
      return operations.exclusive(name, 'redrive', async (running) => {
        const trim = trimmer();
        const end = endOf(name, options.through);
        const max = options.limit ?? Number.POSITIVE_INFINITY;
        const disk = streams.diskState?.();
        if (disk && !disk.writable) {
          throw ERRORS.GH_STORE_DISK_FULL(
            { what: 'redrive dead letters', reason: `${disk.reason ?? 'the disk is full'} (nothing was moved)` },
            { where: name },
          );
        }
        await checkTargets(name, end, max, options.to);
        const to: Record<string, number> = {};
        let moved = 0;
        let through = streams.info(name).firstSeq - 1;
        running.redriven = 0;
        let gone = false;
        for await (const recs of deadLetterChunks(streams, name, end, max)) {
          // A chunk boundary: every dead letter so far appended and removed, the rest untouched.
          if (options.signal?.aborted) {
            gone = true;
            break;
          }
          const targets = recs.map((r) => options.to ?? (r.attrs?.sourceStream as string));
          // One group commit for the chunk; each append resolves once on disk.
          const results = await Promise.allSettled(recs.map((r, i) => streams.append(targets[i] as string, redrivenRecord(r))));
          let ok = 0;
          while (ok < results.length && results[ok]?.status === 'fulfilled') ok++;
          if (ok > 0) {
            const last = (recs[ok - 1] as StoredRecord).seq;
            await trim(name, last);
            through = last;
            moved += ok;
            running.redriven = moved;
            redriven.inc({ stream: name }, ok);
            for (let i = 0; i < ok; i++) to[targets[i] as string] = (to[targets[i] as string] ?? 0) + 1;
          }
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) {
            const cause = failed.reason as unknown;
            log.warn({ stream: name, redriven: moved, to, err: cause }, 'redrive of dead letters stopped: an append failed');
            const e = cause instanceof GatehouseError ? cause : ERRORS.GH_INTERNAL({ reason: String(cause) });
            // Its own code (a full disk, a full stream, a stream dropped meanwhile), with what was done.
            throw new GatehouseError(
              e.code,
              `redrive of '${name}' stopped after ${moved} dead letters (through seq ${through}, the rest stay in it; one appended after them may be sent twice): ${e.message}`,
              { where: name, cause, ...(e.hint === undefined ? {} : { hint: e.hint }) },
            );
          }
        }
        const dropped = moved > 0 ? await dropIfRetired(name) : false;
        if (gone) {
          log.warn(
            { stream: name, redriven: moved, to, through, left: streams.info(name).records },
            'redrive of dead letters stopped: its client went away (the rest stay in the dead-letter stream; redrive again to send them)',
          );
        } else log.info({ stream: name, redriven: moved, to, through }, 'dead letters redriven');
        return { stream: name, redriven: moved, to, through, ...after(name, dropped) };
      });
    },

    purge(name, throughArg) {
      deadLetterStream(name);
      return operations.exclusive(name, 'purge', async () => {
        const trim = trimmer();
        const through = endOf(name, throughArg === 'last' ? undefined : throughArg);
        const r = await trim(name, through);
        purged.inc({ stream: name }, r.records);
        const dropped = await dropIfRetired(name);
        log.info({ stream: name, purged: r.records, through }, 'dead letters purged');
        return { stream: name, purged: r.records, through, ...after(name, dropped) };
      });
    },
  };
}
