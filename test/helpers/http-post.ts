// Requests to an http source with node's own client (a real client: no keep-alive agent unless
// given), and a rig of the source over a REAL store (test/helpers/store-intake.ts) without the
// rules engine.
import { request, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import type { Message } from '../../core/message.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import { httpSourceSchema } from '../../gateway/pipeline/sources/http/options.js';
import { HttpAuth } from '../../gateway/pipeline/sources/http/auth.js';
import { HttpSource } from '../../gateway/pipeline/sources/http/source.js';
import { openLocalStreams, type LocalStreams } from '../../gateway/store/index.js';
import { storeIntake, type StoreIntake } from './store-intake.js';
import { tempDir, testDeps } from './index.js';
import type { RuntimeDeps } from '../../core/deps.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: () => Record<string, unknown>;
}

export interface PostOptions {
  method?: string;
  headers?: Record<string, string | number>;
  agent?: Agent | false;
  /** https: trust this CA (PEM). */
  ca?: string | Buffer;
  host?: string;
}

/** Send one request with `body` and read the whole answer. */
export function post(port: number, path: string, body: string | Buffer = '', o: PostOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const make = o.ca ? httpsRequest : request;
    const req = make(
      { host: o.host ?? '127.0.0.1', port, path, method: o.method ?? 'POST', headers: o.headers ?? {}, agent: o.agent ?? false, ...(o.ca ? { ca: o.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An intake over the store that records every message and can hold submits until released. */
export interface HeldIntake extends Intake {
  messages: Message[];
  store: StoreIntake;
  /** Hold every submit (its append not made) until release(). */
  hold(): void;
  release(): void;
  /** Resolves at the next submit. */
  nextSubmit(): Promise<Message>;
  /** Make the next submits reject with this error. */
  rejectWith(err: Error | undefined): void;
}

export function heldIntake(store: LocalStreams, stream: string): HeldIntake {
  const inner = storeIntake(store, stream, 'http');
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  let waiters: Array<(m: Message) => void> = [];
  let failure: Error | undefined;
  const intake: HeldIntake = {
    messages: [],
    store: inner,
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((r) => {
        open = r;
      });
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = undefined;
    },
    nextSubmit() {
      return new Promise((r) => waiters.push(r));
    },
    rejectWith(err) {
      failure = err;
    },
    submit(message) {
      intake.messages.push(message);
      const w = waiters;
      waiters = [];
      for (const r of w) r(message);
      if (failure) return Promise.reject(failure);
      const held = gate?.promise;
      if (!held) return inner.submit(message);
      return held.then(() => inner.submit(message));
    },
    commitMeta: (k, v) => inner.commitMeta(k, v),
    readMeta: (k) => inner.readMeta(k),
    accepting: () => true,
  };
  return intake;
}

export interface HttpRig {
  source: HttpSource;
  store: LocalStreams;
  intake: HeldIntake;
  deps: RuntimeDeps;
  port: number;
  dir: string;
}

/** An http source on 127.0.0.1 (a free port) over a real store (stream 'in'; `store`: its path and options), started. */
export async function httpRig(
  t: TestContext,
  extra: Record<string, unknown> = {},
  store_: { path?: string; reserveBytes?: number; diskProbeMs?: number } = {},
): Promise<HttpRig> {
  const dir = await tempDir(t);
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os', ...store_ }, deps);
  t.after(() => store.close());
  await store.defineStream({ name: 'in', maxBytes: 1 << 26, onFull: 'reject' });
  const intake = heldIntake(store, 'in');
  const options = httpSourceSchema.parse({ type: 'http', name: 'devices', port: 0, ...extra });
  const auth = HttpAuth.create(options, () => performance.now());
  const source = new HttpSource(options, { ...deps, dataDir: dir }, auth);
  t.after(() => source.stop());
  await source.start(intake);
  const port = (source.status().details as { port: number }).port;
  return { source, store, intake, deps, port, dir };
}
