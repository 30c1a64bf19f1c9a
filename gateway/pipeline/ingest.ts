// The one intake (contract.ts `Intake`): every source hands its messages to `submit`, which runs
// the rules (RuleHost.handle: SQL, then actions) and tracks the commit promise until it settles,
// so shutdown can wait for acknowledged-to-be work (`drain`). Each source gets its own view
// (`intakeFor(name)`) whose durable meta keys are namespaced `src/<name>/<key>` and written in the
// group commit after the appends submitted before them (LocalStreams.commitMeta).
//
// Backpressure is the store's: while a 'reject' stream is full or the commit queue is over its
// byte bound, submit's promise stays pending (or rejects with GH_STREAM_FULL); sources await it
// before acknowledging, so a device that waits for its ack cannot outrun the disk. `inFlight`
// counts what is pending (bounded by what the sources let in flight: the broker's per-client
// inflight window, one frame per serial link, a file tailer's chunk).
import type { Message } from '../../core/message.js';
import type { LocalStreams } from '../store/types.js';
import type { Intake } from './contract.js';
import { InFlightCommits } from './in-flight-commits.js';

/** The rules step: run every matching rule's actions; undefined when nothing durable was started. */
export interface RulesStep {
  handle(msg: Message): Promise<void> | undefined;
}

/** The meta keys a source's commitMeta/readMeta use in the store's meta area. */
export function sourceMetaKey(sourceName: string, key: string): string {
  return `src/${sourceName}/${key}`;
}

export class Ingest {
  private readonly inFlightCommits = new InFlightCommits();
  private open = true;

  constructor(
    private readonly rules: RulesStep,
    private readonly store: Pick<LocalStreams, 'commitMeta' | 'getMeta' | 'metaKeys'>,
  ) {}

  /** Run the rules on msg; resolves once everything durable derived from it is committed. */
  submit(msg: Message): Promise<void> | undefined {
    const p = this.rules.handle(msg);
    return p === undefined ? undefined : this.inFlightCommits.track(p);
  }

  /** The Intake handed to one source: same submit, meta keys under `src/<sourceName>/`. */
  intakeFor(sourceName: string): Intake {
    return {
      submit: (msg) => this.submit(msg),
      commitMeta: (key, value) => this.store.commitMeta(sourceMetaKey(sourceName, key), value),
      readMeta: (key) => this.store.getMeta(sourceMetaKey(sourceName, key)),
      readMetas: (prefix) => readMetas(this.store, sourceMetaKey(sourceName, ''), prefix),
      accepting: () => this.accepting(),
    };
  }

  /** False once the gateway is stopping (the store is about to close): sources stop reading. */
  accepting(): boolean {
    return this.open;
  }

  /** Commits submitted and not yet settled. */
  get inFlight(): number {
    return this.inFlightCommits.size;
  }

  /**
   * Shutdown: stop accepting, then wait for every tracked commit to settle. Resolves true when
   * all settled, false after timeoutMs (their sources were not acknowledged: they resend).
   */
  drain(timeoutMs: number): Promise<boolean> {
    this.open = false;
    return this.inFlightCommits.drain(timeoutMs);
  }
}

/** The meta keys under `ns + prefix` and their values, keys without `ns` (Intake.readMetas). */
export async function readMetas(store: Pick<LocalStreams, 'getMeta' | 'metaKeys'>, ns: string, prefix: string): Promise<Array<[key: string, value: Buffer]>> {
  const keys = (await store.metaKeys?.(ns + prefix)) ?? [];
  const out: Array<[string, Buffer]> = [];
  for (const k of keys) {
    const v = await store.getMeta(k);
    if (v !== undefined) out.push([k.slice(ns.length), v]);
  }
  return out;
}
