// Whether this machine can run the IPv6 tests: an IPv6 loopback (::1) to listen on, and for the
// dual-stack tests a `::` listener that also takes IPv4 connections (net.ipv6.bindv6only = 0, the
// Linux default). A container started without IPv6 has neither: the tests skip, naming why.
import { connect, createServer } from 'node:net';
import { once } from 'node:events';

/** undefined when ::1 can be listened on and dialled, else why not. */
export async function noIpv6Loopback(): Promise<string | undefined> {
  const server = createServer((s) => s.end());
  try {
    server.listen(0, '::1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const c = connect({ host: '::1', port });
    await once(c, 'connect');
    c.destroy();
    return undefined;
  } catch (err) {
    return `no IPv6 loopback here (::1: ${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  } finally {
    server.close();
  }
}

/** undefined when a listener on `::` takes an IPv4 client (dual stack), else why not. */
export async function noDualStack(): Promise<string | undefined> {
  const server = createServer((s) => s.end());
  try {
    server.listen(0, '::');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const c = connect({ host: '127.0.0.1', port });
    await once(c, 'connect');
    c.destroy();
    return undefined;
  } catch (err) {
    return `a listener on :: takes no IPv4 client here (net.ipv6.bindv6only = 1, or no IPv6: ${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  } finally {
    server.close();
  }
}
