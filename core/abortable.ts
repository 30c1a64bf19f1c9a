// A wait that stop() can abandon: a Modbus poll awaiting its commit, an exporter send to a destination
// that does not honour its abort signal (a write to a hung disk): neither may hold a stop.

/** `p`, or a rejection ('stopped') as soon as `signal` aborts (p's outcome is then ignored, handled). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined); // abandoned: its outcome no longer matters, but must not go unhandled
    return Promise.reject(new Error('stopped'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
