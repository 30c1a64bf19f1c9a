// Runtime deps whose log is kept as text (the proxy tests look for the route's line, one line per
// kind of fault, and for the password, which must never be there), with the `network` settings the
// destinations, sources and control channel read (upstream/proxy.ts).
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { RuntimeDeps } from '../../core/deps.js';
import type { ProxySettings } from '../../gateway/upstream/proxy.js';

export function loggedDeps(network: ProxySettings): { deps: RuntimeDeps & { network: ProxySettings }; log: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { deps: { logger: pino({ level: 'debug' }, sink), registry: new Registry(), network }, log: () => text };
}
