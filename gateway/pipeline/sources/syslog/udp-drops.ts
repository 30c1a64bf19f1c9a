// Datagrams the kernel dropped for a syslog source's UDP socket: its receive buffer was full (a
// flood faster than the gateway reads, or a burst while it was busy). They never reach the
// gateway, so only the kernel knows: Linux counts them per socket in the last column (`drops`) of
// /proc/net/udp and /proc/net/udp6, the line of the socket's local address and port. Read when the
// status or the metrics are read (no timer), the growth since the last read added to the source's
// `dropped{reason="receive-buffer"}`. Elsewhere than Linux (no such file) nothing is counted.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** An address and port as /proc/net/udp{,6} writes them: hex, each 32-bit word in the host's (little-endian) order. */
export function procAddress(address: string, port: number): string | undefined {
  const family = isIP(address);
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  if (family === 4) {
    const b = address.split('.').map(Number);
    return `${[b[3], b[2], b[1], b[0]].map((x) => x!.toString(16).toUpperCase().padStart(2, '0')).join('')}:${portHex}`;
  }
  if (family !== 6) return undefined;
  const words = expand6(address);
  if (!words) return undefined;
  // 8 groups of 16 bits as 4 words of 32, each word's 4 bytes reversed
  let hex = '';
  for (let w = 0; w < 4; w++) {
    const bytes = [words[2 * w]! >> 8, words[2 * w]! & 0xff, words[2 * w + 1]! >> 8, words[2 * w + 1]! & 0xff];
    hex += bytes
      .reverse()
      .map((x) => x.toString(16).toUpperCase().padStart(2, '0'))
      .join('');
  }
  return `${hex}:${portHex}`;
}

/** An IPv6 address as its 8 groups (an embedded IPv4 tail taken). */
function expand6(address: string): number[] | undefined {
  let text = address.split('%')[0]!;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  const groups = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** The kernel's drop count of the UDP socket bound to address:port by this process's user, or undefined (none found, not Linux). */
export function kernelUdpDrops(address: string, port: number, read: (path: string) => string = (p) => readFileSync(p, 'latin1')): number | undefined {
  const local = procAddress(address, port);
  if (!local) return undefined;
  const uid = process.getuid?.();
  let text: string;
  try {
    text = read(isIP(address) === 6 ? '/proc/net/udp6' : '/proc/net/udp');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f[1] !== local || f.length < 13) continue;
    if (uid !== undefined && Number(f[7]) !== uid) continue;
    const drops = Number(f[12]);
    return Number.isFinite(drops) ? drops : undefined;
  }
  return undefined;
}

/** The growth of one socket's kernel drop count between reads. */
export class UdpDropWatch {
  private last: number | undefined;

  constructor(
    private readonly address: string,
    private readonly port: number,
    private readonly read?: (path: string) => string,
  ) {
    // a socket is new when bound: what its count holds then is not ours to report
    this.last = kernelUdpDrops(address, port, read);
  }

  /** Datagrams dropped since the last call (0 when unknown). */
  poll(): number {
    const now = kernelUdpDrops(this.address, this.port, this.read);
    if (now === undefined) return 0;
    const grown = this.last === undefined || now < this.last ? now : now - this.last;
    this.last = now;
    return grown;
  }
}
