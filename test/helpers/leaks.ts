// What a component left behind after its stop: the handles keeping the event loop alive, by
// kind, and the files this process holds open under a folder (/proc/self/fd, Linux).
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { waitUntil } from './index.js';

/** How many of each kind of handle keep the event loop alive. */
export function activeResources(): Map<string, number> {
  const n = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) n.set(r, (n.get(r) ?? 0) + 1);
  return n;
}

/** The files under `dir` this process holds open. */
export function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // the directory's own fd, closed while listed
    }
  }
  return out;
}

const WATCHED = ['Timeout', 'Immediate', 'TCPServerWrap', 'TCPSocketWrap', 'TCPConnectWrap', 'FSReqCallback', 'FSReqPromise', 'FSEventWrap', 'StatWatcher'];

/**
 * Waits until no handle of a WATCHED kind is held beyond those of `before`. A handle closed by the
 * stop still shows for one turn of the event loop; a leaked one stays and fails the wait.
 */
export async function noHandlesAdded(before: Map<string, number>, timeoutMs = 2000): Promise<void> {
  const added = (): string[] => {
    const now = activeResources();
    return WATCHED.filter((k) => (now.get(k) ?? 0) > (before.get(k) ?? 0)).map((k) => `${k} ${before.get(k) ?? 0} -> ${now.get(k)}`);
  };
  await waitUntil(() => added().length === 0, 'no handle is left', timeoutMs).catch(() => {
    assert.deepEqual(added(), [], 'handles added since before the start, still held after the stop');
  });
}
