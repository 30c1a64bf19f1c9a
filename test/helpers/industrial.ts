// Helpers of the industrial source tests: a small Intake over a REAL store (LevelDB in a temp dir,
// one stream 'values'), a broker-less pub/sub for command topics, and a jsmodbus TCP server (the
// peer library: the gateway's client is modbus-serial) that can be killed, restarted on the same
// port and made to stop answering (half-open).
import { metaBytes } from '../../core/message.js';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import jsmodbus from 'jsmodbus';
import { pino } from 'pino';
import { openLocalStreams, type LocalStreams, type StoredRecord } from '../../gateway/store/index.js';
import type { Intake } from '../../gateway/pipeline/contract.js';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { matchTopic } from '../../core/topic-filter.js';
import { tempDir, testDeps } from './index.js';
import { onRestartablePort } from './ports.js';

export interface StoreIntake extends Intake {
  store: LocalStreams;
  /** Every committed record so far. */
  records(): Promise<StoredRecord[]>;
  /** Make submits reject (store refuses) until set back to false. */
  failing: boolean;
}

export async function storeIntake(t: TestContext): Promise<StoreIntake> {
  const dir = await tempDir(t, 'gatehouse-industrial-');
  const deps = testDeps();
  const store = await openLocalStreams({ path: join(dir, 'store'), durability: 'os' }, deps);
  await store.defineStream({ name: 'values', maxBytes: 256 * 1024 * 1024, onFull: 'reject' });
  t.after(() => store.close());
  const intake: StoreIntake = {
    store,
    failing: false,
    submit(m) {
      if (intake.failing) return Promise.reject(new Error('store refuses (test)'));
      return store.append('values', { topic: m.topic, payload: m.payload, receivedAt: m.receivedAt }).then(() => undefined);
    },
    commitMeta: (key, value) => store.putMeta(key, metaBytes(value)),
    readMeta: (key) => store.getMeta(key),
    accepting: () => true,
    records: () => store.read('values', 1, { limit: 1_000_000, maxBytes: 1024 * 1024 * 1024 }),
  };
  return intake;
}

/** A broker-less pub/sub standing in for the local broker's publish/subscribe (command topics). */
export function localBus(): {
  deps: Pick<SourceDeps, 'publish' | 'subscribe'>;
  published: { topic: string; payload: Buffer }[];
  send(topic: string, body: unknown): void;
  next(topic: string, timeoutMs?: number): Promise<Record<string, unknown>>;
} {
  const subs = new Set<{ filter: string; handler: (topic: string, payload: Buffer) => void }>();
  const published: { topic: string; payload: Buffer }[] = [];
  const waiters = new Set<{ topic: string; resolve: (v: Record<string, unknown>) => void }>();
  return {
    published,
    deps: {
      publish(topic, payload) {
        published.push({ topic, payload });
        for (const w of waiters)
          if (w.topic === topic) {
            waiters.delete(w);
            w.resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
          }
      },
      subscribe(filter, handler) {
        const s = { filter, handler };
        subs.add(s);
        return () => subs.delete(s);
      },
    },
    send(topic, body) {
      for (const s of subs) if (matchTopic(s.filter.split('/'), topic)) s.handler(topic, Buffer.from(JSON.stringify(body)));
    },
    next(topic, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const w = {
          topic,
          resolve: (v: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(v);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}

/** A parsed log line: its message, and the fields the source logged with it. */
export interface LogLine {
  msg: string;
  suppressed?: number;
  lib?: string;
  [field: string]: unknown;
}

/** A pino logger (warn and above, or `level`) whose lines are kept, parsed, for a test to count. */
export function capturedLogger(level = 'warn'): { logger: SourceDeps['logger']; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as { msg: string });
      cb();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

export function sourceDeps(_t: TestContext, extra: Partial<SourceDeps> = {}): SourceDeps {
  return { ...testDeps(), dataDir: '/nonexistent', ...extra };
}

export interface ModbusTcpPeer {
  port: number;
  holding: Buffer;
  input: Buffer;
  coils: Buffer;
  discrete: Buffer;
  /** Requests answered so far. */
  requests: number;
  /** Kill the server and every connection (RST). */
  kill(): Promise<void>;
  /** Listen again on the same port with the same tables. */
  restart(): Promise<void>;
  /** Stop answering: connections stay open, requests are read and ignored (half-open peer). */
  mute(on: boolean): void;
  /**
   * Unit ids whose requests get no answer while the others are answered (a TCP gateway with a
   * dead or missing serial device behind it).
   */
  silentUnits: Set<number>;
  /** Rewrites each answer before it is sent (a device or TCP gateway with a framing fault). */
  tamper: ((answer: Buffer) => Buffer) | undefined;
}

/** `host`: the address it listens on ('::1' for the IPv6 tests). */
export async function modbusTcpPeer(t: TestContext, registers = 200, host = '127.0.0.1'): Promise<ModbusTcpPeer> {
  const holding = Buffer.alloc(registers * 2);
  const input = Buffer.alloc(registers * 2);
  const coils = Buffer.alloc(Math.ceil(registers / 8));
  const discrete = Buffer.alloc(Math.ceil(registers / 8));
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  let muted = false;
  let port = 0;
  const peer: ModbusTcpPeer = {
    get port() {
      return port;
    },
    holding,
    input,
    coils,
    discrete,
    requests: 0,
    silentUnits: new Set(),
    tamper: undefined,
    async kill() {
      const s = server;
      server = null;
      if (!s) return;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async restart() {
      await peer.kill();
      await listen(port);
    },
    mute(on) {
      muted = on;
      for (const sock of sockets) on ? sock.pause() : sock.resume();
    },
  };
  async function listen(at: number): Promise<void> {
    const s = createServer();
    s.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
      sock.on('data', () => peer.requests++);
      if (muted) sock.pause();
      // Registered before jsmodbus' own listener: its answers to a silent unit are swallowed here.
      const write = sock.write.bind(sock) as (chunk: Buffer, cb?: () => void) => boolean;
      sock.write = ((chunk: Buffer, cb?: () => void) => {
        if (Buffer.isBuffer(chunk) && chunk.length > 6 && peer.silentUnits.has(chunk.readUInt8(6))) {
          cb?.();
          return true;
        }
        return write(Buffer.isBuffer(chunk) && peer.tamper ? peer.tamper(chunk) : chunk, cb);
      }) as typeof sock.write;
    });
    // jsmodbus answers holding/coils/discrete from these buffers. Its range check is broken
    // (a read past the end gets an empty reply, not an exception), so input registers are served
    // by its per-request handler with the standard behaviour: exception 0x02 past the end.
    const modbusServer = new jsmodbus.server.TCP(s, {
      holding,
      input: null as unknown as Buffer,
      coils,
      discrete,
    }) as unknown as import('node:events').EventEmitter;
    modbusServer.on('readInputRegisters', (request: { id: number; unitId: number; body: { start: number; count: number } }, cb: (b: Buffer) => void) => {
      const { start, count } = request.body;
      const pdu =
        start + count > input.length / 2
          ? Buffer.from([0x84, 0x02])
          : Buffer.concat([Buffer.from([0x04, count * 2]), input.subarray(start * 2, (start + count) * 2)]);
      const mbap = Buffer.alloc(7);
      mbap.writeUInt16BE(request.id, 0);
      mbap.writeUInt16BE(pdu.length + 1, 4);
      mbap.writeUInt8(request.unitId, 6);
      cb(Buffer.concat([mbap, pdu]));
    });
    s.listen(at, host);
    await once(s, 'listening');
    const addr = s.address();
    port = typeof addr === 'object' && addr ? addr.port : 0;
    server = s;
  }
  // restart() listens again on this port: one no other test can be handed meanwhile.
  await onRestartablePort(t, listen);
  t.after(() => peer.kill());
  return peer;
}

export interface RtuBus {
  units: Map<number, { holding: Buffer; coils: Buffer }>;
  /** Frames answered per unit. */
  answered: Map<number, number>;
  /** Send garbage bytes on the line before the next answer of `unit`. */
  garbageBeforeNextAnswer(bytes: Buffer, unit: number): void;
  /**
   * Hold the next answers of `unit`, the first for ms[0], the second for ms[1], ... (a slow device
   * answering after the master gave up).
   */
  delayAnswers(unit: number, ms: number[]): void;
  /** Reopen the device end (after the cable was replugged). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Several RTU slaves on one serial line (the device end of a socat pair): each unit id is its own
 * jsmodbus RTU server; frames are routed by their address byte, and an address nobody has gets
 * no answer (as on a real bus).
 */
export async function modbusRtuBus(t: TestContext, path: string, unitIds: number[], registers = 100): Promise<RtuBus> {
  const { SerialPort } = await import('serialport');
  const { hangUpAware } = await import('../../core/serial-binding.js');
  const { EventEmitter } = await import('node:events');
  const units = new Map(unitIds.map((id) => [id, { holding: Buffer.alloc(registers * 2), coils: Buffer.alloc(Math.ceil(registers / 8)) }]));
  const answered = new Map<number, number>();
  let port: InstanceType<typeof SerialPort> | null = null;
  let garbage: { bytes: Buffer; unit: number } | null = null;
  const delays = new Map<number, number[]>();
  let pending = Buffer.alloc(0);
  const sockets = new Map<number, InstanceType<typeof EventEmitter> & { write(b: Buffer, cb?: () => void): void }>();
  for (const [id, tables] of units) {
    const sock = Object.assign(new EventEmitter(), {
      write(b: Buffer, cb?: () => void) {
        answered.set(id, (answered.get(id) ?? 0) + 1);
        if (garbage && garbage.unit === id) {
          port?.write(garbage.bytes);
          garbage = null;
        }
        const ms = delays.get(id)?.shift();
        if (ms !== undefined) {
          const late = Buffer.from(b);
          setTimeout(() => port?.write(late), ms);
        } else port?.write(b);
        cb?.();
      },
    });
    sockets.set(id, sock);
    new jsmodbus.server.RTU(sock as never, { holding: tables.holding, coils: tables.coils });
  }
  function frameLength(buf: Buffer): number | undefined {
    if (buf.length < 2) return undefined;
    const fc = buf[1] as number;
    if (fc >= 1 && fc <= 6) return 8;
    if (fc === 15 || fc === 16) return buf.length >= 7 ? 9 + (buf[6] as number) : undefined;
    return -1; // not a request we know: drop the buffer (resync)
  }
  function onData(d: Buffer): void {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      const len = frameLength(pending);
      if (len === undefined) return;
      if (len === -1) {
        pending = Buffer.alloc(0);
        return;
      }
      if (pending.length < len) return;
      const frame = pending.subarray(0, len);
      pending = pending.subarray(len);
      sockets.get(frame[0] as number)?.emit('data', Buffer.from(frame));
    }
  }
  async function open(): Promise<void> {
    const p = new SerialPort(hangUpAware({ path, baudRate: 38400, autoOpen: false }));
    await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())));
    p.on('data', onData);
    p.on('error', () => undefined);
    port = p;
  }
  async function close(): Promise<void> {
    const p = port;
    port = null;
    pending = Buffer.alloc(0);
    // Bounded: closing a pty whose other end (socat) is already gone may never call back.
    if (p?.isOpen) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 2000);
        p.close(() => {
          clearTimeout(timer);
          r();
        });
      });
      if (p.isOpen) p.destroy();
    }
  }
  await open();
  t.after(close);
  return {
    units,
    answered,
    garbageBeforeNextAnswer(bytes, unit) {
      garbage = { bytes, unit };
    },
    delayAnswers(unit, ms) {
      delays.set(unit, [...ms]);
    },
    async reopen() {
      await close();
      await open();
    },
    close,
  };
}

export interface TcpProxy {
  port: number;
  /** Stop forwarding in both directions, sockets kept open (a half-open / frozen peer). */
  mute(on: boolean): void;
  /**
   * Mute (as mute(true)) at the first chunk from a client for which `match` is true, that chunk
   * not forwarded: a request held at the server's door. Resolves once it happened.
   */
  muteAt(match: (fromClient: Buffer) => boolean): Promise<void>;
  /** The connections open now; close() ends just those later (the ones opened since go on). */
  snapshot(): { size: number; close(): void };
}

/** A TCP proxy to 127.0.0.1:target that can freeze its connections (for half-open tests). */
export async function tcpProxy(t: TestContext, target: number): Promise<TcpProxy> {
  const { connect } = await import('node:net');
  let muted = false;
  let muteAt: { match: (fromClient: Buffer) => boolean; done: () => void } | undefined;
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((down) => {
    const up = connect(target, '127.0.0.1');
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (d: Buffer) => {
        if (from === down && muteAt && !muted && muteAt.match(d)) {
          muted = true;
          muteAt.done();
        }
        if (!muted) to.write(d);
      });
    };
    forward(down, up);
    forward(up, down);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    return new Promise<void>((r) => server.close(() => r()));
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    mute(on) {
      muted = on;
    },
    muteAt(match) {
      return new Promise<void>((done) => {
        muteAt = { match, done };
      });
    },
    snapshot() {
      const open = [...pairs];
      return {
        size: open.length,
        close() {
          for (const [a, b] of open) {
            a.destroy();
            b.destroy();
          }
        },
      };
    },
  };
}
