// Waiting for a writable stream to take writes again. 'drain' alone is not enough: a stream closed
// (the HTTP client gone, the pipe's reader exited) never emits it, and a writer waiting for it
// alone never ended, holding what it had read.

/** Resolves once `stream` takes writes again ('drain') or is closed. */
export function drainedOrClosed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
