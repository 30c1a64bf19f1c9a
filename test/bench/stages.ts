// Each message's PUBACK latency taken apart, stage by stage (pi.ts with BENCH_STAGES=1; issue 15,
// round 37). Bench-only: nothing in the gateway's code knows of it. In the gateway's process
// (the pi bench's child) installStageTracer() wraps, on their prototypes and module objects, the
// few places a QoS 1 publish passes through, and stamps each with performance.now():
//   parsed    mqtt-packet's parser emitted the PUBLISH (aedes parses a socket read at once)
//   enqueued  the store's group committer took the append (GroupCommitter.enqueue)
//   write     the commit holding it started its db.batch (CommitPacer.writeStarts) ...
//   synced    ... and the write + fsync ended (CommitPacer.writeEnded)
//   handed    aedes handed its PUBACK to the socket (mqtt-packet's writeToStream; the bytes leave
//             on the next tick, when mqtt-packet uncorks the socket)
// The load generator (mqtt-fleet.ts's `trace`) adds the publish call and the PUBACK callback. The
// two processes share one clock: performance.timeOrigin + performance.now(). Messages are matched
// per device in order (one TCP connection each: parsed, enqueued and acked in publish order; the
// tracer checks the seq in the payload at the enqueue to be sure).
// Without BENCH_STAGES nothing here is loaded or wrapped: zero cost when off. When on, the stamps
// cost ~1-2 us per message on the gateway's main thread (compare CPU figures only with it off).
import { createRequire } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';

/** What the gateway's process recorded for one run (plain arrays: it crosses IPC as JSON). */
export interface GatewayStages {
  origin: number;
  /** Per client id, in publish order. */
  devices: Record<string, DeviceStages>;
  /** Every commit that started while recording, in order. */
  commits: CommitStamp[];
  /** GC pauses: [start, duration, kind] (performance.now() ms; kind: perf_hooks.constants.NODE_PERFORMANCE_GC_*: 1 minor, 4 major, 8 incremental, 16 weak callbacks). */
  gc: Array<[number, number, number]>;
  /** Appends whose payload seq did not follow the device's previous one (0: the per-device match holds). */
  outOfOrder: number;
}

export interface DeviceStages {
  parsed: number[];
  /** Publishes parsed by the same parse() call (one socket read) as this one. */
  chunk: number[];
  /** ms since the socket's last 'readable' event when parsed (aedes defers a read while packets of the last one are in hand). */
  sinceReadable: number[];
  enqueued: number[];
  /** Index of the append in the committer's global order (which commit holds it). */
  index: number[];
  handed: number[];
}

export interface CommitStamp {
  /** Global append index of its first record, and how many it holds. */
  first: number;
  count: number;
  /** The pacing wait asked for before it (ms; 0: none) and when it was asked. */
  waitMs: number;
  waitAt: number;
  /** commitOnce called (the batch is cut), its write started, its write + fsync ended. */
  cutAt: number;
  writeAt: number;
  syncedAt: number;
}

export interface StageTracer {
  /** Forget what was recorded (the next run starts). */
  reset(): void;
  take(): GatewayStages;
}

interface ParserLike {
  parse(buf: Buffer): number;
  on(ev: 'packet', fn: (packet: { cmd: string; topic?: string; qos?: number }) => void): unknown;
  client?: { id?: string; conn?: NodeJS.EventEmitter };
}

/**
 * Wrap the stamping points. Call after the gateway's modules are loaded (mqtt-packet must load
 * through gateway/broker/quiet-debug.ts first) and before any client connects.
 */
export async function installStageTracer(): Promise<StageTracer> {
  const now = (): number => performance.now();
  const req = createRequire(import.meta.url);
  // The CommonJS module object aedes' `import mqtt from 'mqtt-packet'` reads its functions from at each call.
  const mqttPacket = req('mqtt-packet') as { parser: (opts?: unknown) => ParserLike; writeToStream: (packet: { cmd: string }, stream: object) => boolean };
  const { GroupCommitter } = await import('../../gateway/store/committer.js');
  const { CommitPacer } = await import('../../gateway/store/pacing.js');

  let devices = new Map<string, DeviceStages>();
  let commits: CommitStamp[] = [];
  let gc: Array<[number, number, number]> = [];
  let outOfOrder = 0;
  const lastSeq = new Map<string, number>();
  /** Appends taken so far (never reset: commits are matched by it). */
  let appends = 0;
  let pendingWait = { ms: 0, at: 0 };
  /** A commit cut and not yet started its write / ended it. */
  let cutting: CommitStamp | undefined;
  let writing: CommitStamp | undefined;
  const connIds = new WeakMap<object, string>();
  const readableAt = new WeakMap<object, number>();
  let parseChunk: Array<DeviceStages> = [];
  const noGate = process.env.BENCH_STAGES_NOGATE === '1';

  const dev = (id: string): DeviceStages => {
    let d = devices.get(id);
    if (!d) {
      d = { parsed: [], chunk: [], sinceReadable: [], enqueued: [], index: [], handed: [] };
      devices.set(id, d);
    }
    return d;
  };

  const makeParser = mqttPacket.parser;
  mqttPacket.parser = (opts?: unknown): ParserLike => {
    const p = makeParser(opts);
    const parse = p.parse.bind(p);
    p.parse = (buf: Buffer): number => {
      parseChunk = [];
      const r = parse(buf);
      // BENCH_STAGES_NOGATE=1 (the experiment behind gateway/broker/read-gate.ts, no bound at
      // all: not the gateway's behaviour): forget aedes' count of packets in hand after every
      // parse, so the next 'readable' reads at once.
      if (noGate && p.client) (p.client as { _parsingBatch?: number })._parsingBatch = 0;
      for (const d of parseChunk) d.chunk.push(parseChunk.length);
      parseChunk = [];
      return r;
    };
    p.on('packet', (packet) => {
      const client = p.client;
      const conn = client?.conn;
      if (conn && !readableAt.has(conn)) {
        readableAt.set(conn, now());
        conn.prependListener('readable', () => readableAt.set(conn, now()));
      }
      if (packet.cmd !== 'publish' || packet.qos !== 1 || !client?.id || !conn) return;
      connIds.set(conn, client.id);
      const d = dev(client.id);
      const t = now();
      d.parsed.push(t);
      d.sinceReadable.push(t - (readableAt.get(conn) ?? t));
      parseChunk.push(d);
    });
    return p;
  };
  const write = mqttPacket.writeToStream;
  mqttPacket.writeToStream = (packet, stream) => {
    if (packet.cmd === 'puback') {
      const id = connIds.get(stream);
      if (id !== undefined) dev(id).handed.push(now());
    }
    return write(packet, stream);
  };

  // biome-ignore lint/suspicious/noExplicitAny: private methods of the committer and the pacer, wrapped on their prototypes (bench-only)
  const gcProto = GroupCommitter.prototype as any;
  const enqueue = gcProto.enqueue as (this: unknown, s: unknown, rec: { topic: string; payload: Buffer }, ...rest: unknown[]) => void;
  gcProto.enqueue = function (this: unknown, s: unknown, rec: { topic: string; payload: Buffer }, ...rest: unknown[]): void {
    const index = appends++;
    const id = rec.topic.split('/')[1];
    if (id !== undefined) {
      const d = dev(id);
      d.enqueued.push(now());
      d.index.push(index);
      const at = rec.payload.indexOf('"seq":');
      if (at >= 0) {
        const seq = Number.parseInt(rec.payload.toString('latin1', at + 6, at + 16), 10);
        const last = lastSeq.get(id);
        if (last !== undefined && seq !== last + 1) outOfOrder++;
        lastSeq.set(id, seq);
      }
    }
    enqueue.call(this, s, rec, ...rest);
  };
  const commitOnce = gcProto.commitOnce as (this: unknown) => Promise<void>;
  gcProto.commitOnce = function (this: { pendingList: unknown[] }): Promise<void> {
    cutting = { first: -1, count: 0, waitMs: pendingWait.ms, waitAt: pendingWait.at, cutAt: now(), writeAt: 0, syncedAt: 0 };
    pendingWait = { ms: 0, at: 0 };
    return commitOnce.call(this);
  };
  // biome-ignore lint/suspicious/noExplicitAny: see above
  const pacerProto = CommitPacer.prototype as any;
  const wait = pacerProto.wait as (this: unknown, bytes: number, held: boolean) => Promise<void> | undefined;
  pacerProto.wait = function (this: unknown, bytes: number, held: boolean): Promise<void> | undefined {
    // the planned wait: the pacer's own arithmetic (its timer's delay), asked before it arms the timer
    const ms = (this as { waitMs(b: number, h: boolean): number }).waitMs(bytes, held);
    pendingWait = { ms: Math.max(0, ms), at: now() };
    return wait.call(this, bytes, held);
  };
  let appendsCommitted = 0;
  const writeStarts = pacerProto.writeStarts as (this: unknown, records: number) => void;
  pacerProto.writeStarts = function (this: unknown, records: number): void {
    const c = cutting ?? { first: -1, count: 0, waitMs: 0, waitAt: 0, cutAt: now(), writeAt: 0, syncedAt: 0 };
    cutting = undefined;
    c.count = records;
    c.first = appendsCommitted;
    appendsCommitted += records;
    c.writeAt = now();
    writing = c;
    commits.push(c);
    writeStarts.call(this, records);
  };
  const writeEnded = pacerProto.writeEnded as (this: unknown) => number;
  pacerProto.writeEnded = function (this: unknown): number {
    const r = writeEnded.call(this);
    if (writing) writing.syncedAt = now();
    writing = undefined;
    return r;
  };

  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push([e.startTime, e.duration, (e as { detail?: { kind?: number } }).detail?.kind ?? 0]);
  });
  obs.observe({ entryTypes: ['gc'] });

  return {
    reset() {
      devices = new Map();
      commits = [];
      gc = [];
      outOfOrder = 0;
      lastSeq.clear();
    },
    take() {
      return { origin: performance.timeOrigin, devices: Object.fromEntries(devices), commits, gc, outOfOrder };
    },
  };
}
