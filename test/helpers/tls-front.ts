// A TLS front for a local peer: a TLS server with a certificate of its own (self-signed, for
// 127.0.0.1 and localhost; the test trusts it as the CA) that pipes each connection to the peer's
// plain port. It makes an https endpoint of kinesalite or s3rver, an mqtts broker of mosquitto.
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { TestContext } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { tempDir } from './index.js';
import { opensslSelfSigned } from './tls-fixture.js';

/**
 * A TLS front (certificate of its own CA) for a local peer (`rx`, or the peer on `rx.port`): an https
 * endpoint, reached through a CONNECT tunnel. `san`: the certificate's names (default 127.0.0.1 and localhost).
 */
export async function tlsFront(t: TestContext, rx: { port: number }, san?: string): Promise<{ url: string; port: number; ca: string }> {
  const files = opensslSelfSigned(await tempDir(t), 1, 'cert', san);
  const server = createTlsServer({ cert: await readFile(files.cert), key: await readFile(files.key) }, (s) => {
    const back = netConnect(rx.port, '127.0.0.1');
    s.pipe(back).pipe(s);
    s.on('error', () => back.destroy());
    back.on('error', () => s.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (s) => {
    sockets.add(s);
    // Only the open ones: a set of every connection ever made grew the heap of a test of a thousand reconnects.
    s.once('close', () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as { port: number }).port;
  return { url: `https://127.0.0.1:${port}/`, port, ca: files.cert };
}
