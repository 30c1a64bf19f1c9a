// Loaded into every test file's process by `npm test` (`--import`): once a file's tests have all
// finished, an unref'd timer waits EXIT_WATCH_MS; if the process is still alive then, something of
// the file's (a socket, a server, a child process, a timer) keeps the event loop running, and what
// it is gets printed to stderr, which the runner shows beside the file's results.
//
// Why: round 37's CI once saw fleet-image.test.js pass its tests and then not exit for 300 s, and
// nothing said what held it. The timer is unref'd, so a file that exits is not delayed by a moment.
// Nothing is closed or killed here: the leak is the test's to fix, this only names it.
import { after } from 'node:test';

const EXIT_WATCH_MS = Number(process.env.GATEHOUSE_EXIT_WATCH_MS ?? 30_000);

/** One line per live handle: its kind and what tells it apart (ports, a child's command, a path). */
function describeHandles(): string[] {
  // process._getActiveHandles is undocumented but stable since Node 0.x, and the only way to see
  // *which* socket or child is alive (getActiveResourcesInfo gives the kinds alone).
  const getter = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (!getter) return [];
  const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
  return getter
    .call(process)
    .filter((h) => !stdio.has(h))
    .map((h) => {
      const o = h as Record<string, unknown> & { constructor?: { name?: string } };
      const kind = o.constructor?.name ?? typeof h;
      const parts: string[] = [kind];
      if (typeof o.localPort === 'number') parts.push(`local ${String(o.localAddress)}:${o.localPort}`);
      if (typeof o.remotePort === 'number') parts.push(`remote ${String(o.remoteAddress)}:${o.remotePort}`);
      if (Array.isArray(o.spawnargs)) parts.push(`child ${o.pid as number}: ${(o.spawnargs as string[]).join(' ').slice(0, 200)}`);
      if (typeof o.path === 'string') parts.push(`path ${o.path}`);
      const address = (o as { address?: () => unknown }).address;
      if (kind === 'Server' && typeof address === 'function') parts.push(`listening ${JSON.stringify(address.call(h))}`);
      return parts.join(' ');
    });
}

// Only in the test files' processes (the runner sets NODE_TEST_CONTEXT in them), not in the runner.
if (process.env.NODE_TEST_CONTEXT && EXIT_WATCH_MS > 0) {
  after(() => {
    setTimeout(() => {
      const file = process.argv[1] ?? '(unknown file)';
      const lines = [
        `[exit-watch] ${file} is still running ${EXIT_WATCH_MS / 1000} s after its last test ended; what keeps it alive:`,
        `  resources: ${process.getActiveResourcesInfo().join(', ')}`,
        ...describeHandles().map((d) => `  ${d}`),
      ];
      process.stderr.write(`${lines.join('\n')}\n`);
    }, EXIT_WATCH_MS).unref();
  });
}
