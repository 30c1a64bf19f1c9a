// The operator's operations on one local stream (a dead-letter redrive or purge, a drop) run one
// at a time. Two of them at once could each be right alone and wrong together: two redrives each
// append a chunk before either trims it (every record of it sent twice), a purge trims what a
// redrive read but has not appended yet (lost), a drop throws away records a redrive is moving.
// A second one is refused at once (409 GH_STREAM_BUSY, naming the one running, when it started
// and how far it got), not queued: an operator who retries after a timeout learns that the first
// still runs instead of stacking a second behind it, and nothing waits on an HTTP request.
// Only this process's admin API changes these streams that way, so a lock in memory is enough.
import { ERRORS } from '../../core/errors.js';

export type StreamOperation = 'redrive' | 'purge' | 'drop';

/** An operation running on a stream, as GET /api/dead-letters shows it. */
export interface RunningOperation {
  operation: StreamOperation;
  /** When it started (ISO 8601). */
  startedAt: string;
  /** A redrive: the dead letters moved so far (appended and removed from the dead-letter stream). */
  redriven?: number;
}

export interface StreamOperations {
  /** Run `work` as the one operation on `stream`; GH_STREAM_BUSY when another runs. `work` may report progress on the record it is given. */
  exclusive<T>(stream: string, operation: StreamOperation, work: (running: RunningOperation) => Promise<T>): Promise<T>;
  /** The operation running on `stream`, if any (a copy). */
  running(stream: string): RunningOperation | undefined;
}

export function createStreamOperations(now: () => number = Date.now): StreamOperations {
  const running = new Map<string, RunningOperation>();
  return {
    async exclusive(stream, operation, work) {
      const other = running.get(stream);
      if (other !== undefined) {
        const progress = other.redriven === undefined ? '' : `, ${other.redriven} dead letters moved so far`;
        throw ERRORS.GH_STREAM_BUSY({ stream, operation, running: other.operation, since: other.startedAt, progress }, { where: stream });
      }
      const mine: RunningOperation = { operation, startedAt: new Date(now()).toISOString() };
      running.set(stream, mine);
      try {
        return await work(mine);
      } finally {
        running.delete(stream);
      }
    },
    running(stream) {
      const r = running.get(stream);
      return r === undefined ? undefined : { ...r };
    },
  };
}
