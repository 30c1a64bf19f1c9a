// What the fuzz harnesses (test/e2e/fuzz-*.test.ts) share: the seed and the time budget from the
// environment (FUZZ_SEED, FUZZ_MS: a failure is replayed with its printed seed, a long campaign is
// run with FUZZ_MS=300000), a seeded source of mutations, a recorder of what a real client sends,
// a logger that keeps the gateway's warnings and errors for the oracles, and the heap after a GC.
import { createServer, connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino, { type Logger } from 'pino';
import type { TestContext } from 'node:test';
import mqtt, { type IClientOptions, type IClientPublishOptions } from 'mqtt';
import type { LocalStreams } from '../../gateway/store/types.js';
import { mulberry32 } from './prng.js';
import { withTimeout } from './index.js';

/** The campaign's seed and length: FUZZ_SEED and FUZZ_MS override the CI defaults. */
export function fuzzSettings(defaultSeed: number, defaultMs: number): { seed: number; ms: number } {
  return { seed: Number(process.env.FUZZ_SEED ?? defaultSeed) >>> 0, ms: Number(process.env.FUZZ_MS ?? defaultMs) };
}

export interface Fuzzer {
  rnd(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  randomBytes(n: number): Buffer;
  /** One mutation of a byte string: bit flips, inserts, truncation, deletion, duplication, boundary bytes, or random bytes. */
  mutate(src: Buffer): Buffer;
  /** A JSON-like value changed somewhere: a value replaced by junk, a key dropped, renamed or added. */
  mutateValue(v: unknown, depth?: number): unknown;
}

/** Values that break a field's expected type (the config fuzz's list, and a few more). */
export const JUNK: readonly unknown[] = [
  null,
  -1,
  0,
  1.5,
  1e308,
  '',
  'x'.repeat(300),
  [],
  {},
  true,
  [1, [2]],
  { b64: 5 },
  '../../etc/passwd',
  2 ** 53,
  -(2 ** 31),
  '\u0000',
  '#',
  '+/+',
];

export function fuzzer(seed: number): Fuzzer {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  const mutate = (src: Buffer): Buffer => {
    const b = Buffer.from(src);
    switch (int(7)) {
      case 0:
        for (let i = 0, n = 1 + int(8); i < n && b.length; i++) b[int(b.length)]! ^= 1 << int(8);
        return b;
      case 1: {
        const at = int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), randomBytes(1 + int(16)), b.subarray(at)]);
      }
      case 2:
        return b.subarray(0, int(b.length + 1));
      case 3: {
        const at = int(b.length + 1);
        return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(16))]);
      }
      case 4: {
        const at = int(b.length + 1);
        const len = 1 + int(64);
        return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
      }
      case 5:
        for (let i = 0, n = 1 + int(4); i < n && b.length; i++) b[int(b.length)] = pick([0, 0x7f, 0x80, 0xff, 0xc0, 0xfe]);
        return b;
      default:
        return randomBytes(int(256));
    }
  };
  const mutateValue = (v: unknown, depth = 0): unknown => {
    if (depth > 4 || rnd() < 0.1) return pick(JUNK);
    if (Array.isArray(v)) return v.map((x) => (rnd() < 0.3 ? mutateValue(x, depth + 1) : x));
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      const keys = Object.keys(o);
      for (const k of keys) if (rnd() < 0.3) o[k] = mutateValue(o[k], depth + 1);
      if (keys.length > 0 && rnd() < 0.15) delete o[pick(keys)];
      if (keys.length > 0 && rnd() < 0.1) {
        // a damaged key: one bit of one of its letters flipped
        const k = pick(keys);
        const at = int(k.length);
        const renamed = k.slice(0, at) + String.fromCharCode(k.charCodeAt(at) ^ (1 << int(5))) + k.slice(at + 1);
        o[renamed] = o[k];
        delete o[k];
      }
      if (rnd() < 0.1) o[`junk${int(9)}`] = pick(JUNK);
      return o;
    }
    return rnd() < 0.5 ? pick(JUNK) : v;
  };
  return { rnd, int, pick, randomBytes, mutate, mutateValue };
}

/**
 * The client -> server bytes of a real client's session, recorded through a TCP proxy in front of
 * 127.0.0.1:port: `session` gets the proxy's port. The list holds one entry per chunk read.
 */
export async function recordClientBytes(port: number, session: (proxyPort: number) => Promise<void>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const proxy = createServer((inbound) => {
    const out = netConnect(port, '127.0.0.1');
    inbound.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      out.write(d);
    });
    out.on('data', (d: Buffer) => inbound.write(d));
    inbound.on('close', () => out.end());
    out.on('close', () => inbound.destroy());
    inbound.on('error', () => undefined);
    out.on('error', () => undefined);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  try {
    await session((proxy.address() as { port: number }).port);
  } finally {
    await new Promise<void>((r) => proxy.close(() => r()));
  }
  return Buffer.concat(chunks);
}

/** Split a byte stream of whole MQTT packets into its packets (by their remaining length). */
export function splitMqttPackets(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    let len = 0;
    let mul = 1;
    let j = i + 1;
    for (; j < buf.length; j++) {
      len += (buf[j]! & 0x7f) * mul;
      mul *= 128;
      if ((buf[j]! & 0x80) === 0) break;
    }
    const end = j + 1 + len;
    out.push(buf.subarray(i, Math.min(end, buf.length)));
    i = end;
  }
  return out;
}

/** A logger whose warnings and errors are kept (as parsed lines) for the harness's oracles. */
export function capturingLogger(level = 'warn'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    {
      write(line: string): void {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ msg: line });
        }
        if (lines.length > 10_000) lines.splice(0, 5000);
      },
    },
  );
  return { logger, lines };
}

let gcFn: (() => void) | undefined;
/** heapUsed after full GCs (V8's gc() made reachable without --expose-gc on the command line). */
export function heapAfterGc(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) gcFn();
  return process.memoryUsage().heapUsed;
}

/** A device publishing QoS 1 `{"id":i}` to witness/<i % 5> while the fuzz runs: every id PUBACKed must be stored. */
export interface Witness {
  /** The ids PUBACKed so far, in order. */
  readonly acked: number[];
  /** Stop publishing; resolves when the publish in flight is answered (bounded). */
  stop(): Promise<void>;
}

/**
 * The witness device of the fuzz tests, on an mqtt.js client of its own (ended at the test's end).
 * `options` go to the client (e.g. protocolVersion 5), `publishOptions(i)` to each publish.
 */
export async function startWitness(
  t: TestContext,
  url: string,
  options: IClientOptions = {},
  publishOptions: (i: number) => IClientPublishOptions = () => ({ qos: 1 }),
): Promise<Witness> {
  const device = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'witness-device', ...options });
  t.after(() => device.endAsync(true));
  const acked: number[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      await device.publishAsync(`witness/${i % 5}`, JSON.stringify({ id: i }), publishOptions(i));
      acked.push(i);
    }
  })();
  return {
    acked,
    stop: async () => {
      stopped = true;
      await withTimeout(loop, 10_000, 'the device publishes to finish');
    },
  };
}

/** The witness ids stored in `stream` (a fuzzed publish to witness/... with junk is not the device's: left out). */
export async function storedWitnessIds(streams: Pick<LocalStreams, 'read'>, stream = 'archive'): Promise<Set<number>> {
  const stored = new Set<number>();
  for (let from = 1; ; ) {
    const recs = await streams.read(stream, from, { limit: 500 });
    if (recs.length === 0) break;
    for (const r of recs) {
      if (!r.topic.startsWith('witness/')) continue;
      try {
        stored.add((JSON.parse(r.payload.toString('utf8')) as { id: number }).id);
      } catch {
        // junk a fuzzer published to witness/...
      }
    }
    from = recs[recs.length - 1]!.seq + 1;
  }
  return stored;
}
