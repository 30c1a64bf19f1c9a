// What `/api/sources`, the status page and the file source's status show: every tracked file with
// its state, committed offset, lag and counters, plus the open-file budget, the bytes in flight and
// the files that cannot be read or vanished with unread data.
import type { SourceStatus } from '../../contract.js';
import type { FileSet } from './file-set.js';

export interface StatusInputs {
  kind: string;
  name: string;
  state: string;
  files: FileSet;
  openLimit: number;
  inflightBytes: number;
  inflightRecords: number;
  lastError: string | undefined;
  /** Monotonic ms now (the trackers' behindSince is on that clock). */
  monotonicNow: number;
}

export function fileSourceStatus(s: StatusInputs): SourceStatus {
  const files = [...s.files.trackers.values()].map((t) => ({
    path: t.path,
    identity: t.key,
    state: t.fh ? (t.detached ? 'draining' : 'open') : t.dormant ? 'idle-closed' : 'waiting',
    offset: t.committedOffset,
    size: t.size,
    lagBytes: Math.max(0, t.size - t.committedOffset),
    lagSeconds: t.behindSince === undefined ? 0 : Math.round((s.monotonicNow - t.behindSince) / 100) / 10,
    linesRead: t.linesRead,
    bytesRead: t.bytesRead,
    parseErrors: t.parseErrors,
    invalidUtf8: t.invalidUtf8,
    linesCut: t.splitter.counters.linesCut,
    nulBytesSkipped: t.splitter.counters.nulBytesSkipped,
    partialLines: t.partialLines,
    rotations: t.rotations,
    truncations: t.truncations,
    opens: t.opens,
    ...(t.headerChanged ? { headerChanged: true } : {}),
    ...(t.lastError ? { lastError: t.lastError } : {}),
  }));
  return {
    kind: s.kind,
    name: s.name,
    state: s.state,
    details: {
      files,
      openFiles: files.filter((f) => f.state === 'open' || f.state === 'draining').length,
      waitingFiles: files.filter((f) => f.state === 'waiting').length,
      openLimit: s.openLimit,
      inflightBytes: s.inflightBytes,
      inflightRecords: s.inflightRecords,
      unreadable: [...s.files.unreadable].map(([path, error]) => ({ path, error })),
      vanished: [...s.files.vanished],
      ...(s.files.globLimited.size > 0 ? { globLimited: [...s.files.globLimited].map(([pattern, limit]) => ({ pattern, limit })) } : {}),
      ...(s.lastError ? { lastError: s.lastError } : {}),
    },
  };
}
