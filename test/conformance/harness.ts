// Shared parts of the conformance harness: per-test topics and client ids (so the tests can run
// concurrently against one broker), waiting helpers, and the runner that reports x of n.
import { RawClient } from './raw-client.js';

/** The ACL the conformance runs use: everything allowed but subscribing to test/nosubscribe. */
export const conformanceAcl = {
  anonymous: [
    { topic: '#', access: 'readwrite' as const },
    { topic: 'test/nosubscribe', access: 'deny' as const },
  ],
};

export interface Target {
  host: string;
  port: number;
  /** A topic filter the broker refuses to subscribe to (SUBACK 0x80). */
  noSubscribe: string;
}

export interface Ctx {
  target: Target;
  topics: string[];
  wild: string[];
  prefix: string;
  /** A raw client with an id unique to this test ('a', 'b', '' for a zero-length id). */
  client(suffix: string, version?: 3 | 4 | 5): RawClient;
}

export type ConformanceTest = (ctx: Ctx) => Promise<void>;

export interface Outcome {
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Poll until fn() holds or the limit passes (like Paho's waitfor: no failure on timeout). */
export async function waitFor(fn: () => boolean, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (!fn()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * A quiet period for NEGATIVE checks only ("nothing more arrives"): there is no event for the
 * absence of a packet, so these tests wait a bounded time, as the Paho suite does.
 */
export function quiet(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Expect a promise to reject (or the connection to close) within the client's timeout. */
export async function fails(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return false;
  } catch {
    return true;
  }
}

export async function runSuite(name: string, tests: Record<string, ConformanceTest>, target: Target, version: 3 | 4 | 5, serial = false): Promise<Outcome[]> {
  // client ids unique per run: a session left by an earlier run (expiry 99999) must not leak in,
  // which the Paho suite gets by cleaning its two fixed client ids first
  const runId = Date.now().toString(36);
  const run = async (testName: string, fn: ConformanceTest, index: number): Promise<Outcome> => {
    // short: the maximum packet size test needs a 32-byte payload to fit in 64 bytes with its topic
    const prefix = `${name}-${index}/`;
    const made: RawClient[] = [];
    const ctx: Ctx = {
      target,
      prefix,
      topics: ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'].map((t) => prefix + t),
      wild: ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'].map((t) => prefix + t),
      client(suffix, v = version) {
        const c = new RawClient(suffix === '' ? '' : `${name}-${runId}-${testName}-${suffix}`, v);
        made.push(c);
        return c;
      },
    };
    const t0 = Date.now();
    try {
      await fn(ctx);
      return { name: testName, ok: true, ms: Date.now() - t0 };
    } catch (err) {
      return { name: testName, ok: false, error: err instanceof Error ? err.message : String(err), ms: Date.now() - t0 };
    } finally {
      for (const c of made) c.terminate();
    }
  };
  const entries = Object.entries(tests);
  if (!serial) return Promise.all(entries.map(([n, fn], i) => run(n, fn, i)));
  const out: Outcome[] = [];
  for (let i = 0; i < entries.length; i++) out.push(await run(entries[i]![0], entries[i]![1], i));
  return out;
}

export function summary(suite: string, outcomes: Outcome[]): string {
  const passed = outcomes.filter((o) => o.ok).length;
  const lines = [`${suite}: ${passed} of ${outcomes.length} passed`];
  for (const o of outcomes) lines.push(`  ${o.ok ? 'ok  ' : 'FAIL'} ${o.name} (${o.ms} ms)${o.error ? `: ${o.error}` : ''}`);
  return lines.join('\n');
}
