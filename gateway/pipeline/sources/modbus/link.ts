// Transport glue around the modbus-serial client: one TCP socket or one RTU serial port, with
// every request bounded by our own guard timer (the library's timeout plus a margin), so a lost
// response, a half-open socket or a silent bus can never hang the poller. Errors come out
// classified (timeout / exception / connection / protocol) for the status and the counters.
// modbus-serial is imported lazily (by the source's create()), never at config load.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import type { Area } from './options.js';
import { ERRORS } from '../../../../core/errors.js';
import { StrayAnswers, notModbusText, outOfStepText } from './stray-answers.js';
import { RtuLine } from './rtu-line.js';
import { urlHost } from '../../../../core/bind-host.js';
import { openHint } from '../../../../firmware-bridge/port-keeper.js';

/** out-of-step: Modbus TCP, an answer with another transaction id came and none to the request (stray-answers.ts). */
export type ErrorKind = 'timeout' | 'exception' | 'connection' | 'protocol' | 'out-of-step';

const EXCEPTION_NAMES: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusRequestError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Modbus exception code for kind 'exception'. */
    readonly exceptionCode?: number,
  ) {
    super(message);
    this.name = 'ModbusRequestError';
  }
}

export function exceptionText(code: number): string {
  return `exception 0x${code.toString(16).padStart(2, '0')} ${EXCEPTION_NAMES[code] ?? 'unknown'}`;
}

/** The first address of each table's register numbers in a device manual (Modicon convention: 10001, 30001, 40001). */
const REFERENCE_BASE: Partial<Record<Area, number>> = { discrete: 10001, input: 30001, holding: 40001 };

/**
 * Why a device refused an address with 0x02, when the address looks like a manual's register
 * number rather than a protocol address (input 30001, holding 40001: the most common Modbus
 * setup mistake, the device then answers every poll with 0x02), and what to write instead; ''
 * otherwise. Coils (00001..) are left out: a small coil address is as likely right as not.
 */
export function referenceNumberHint(area: Area, address: number, size: number): string {
  const base = REFERENCE_BASE[area];
  if (base === undefined || address < base || address + size - 1 > base + 9998) return '';
  return `: ${area} ${address} looks like the register number of a device manual (${base} is ${area} address 0): addresses are zero-based protocol addresses, so write address: ${address - base}`;
}

export type LinkTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'rtu'; path: string; baudRate: number; dataBits: number; parity: 'none' | 'even' | 'odd'; stopBits: number };

export type ModbusCtor = new () => ModbusRTU;

/** A read result: register bytes (2 per register, wire order) or bits. */
export type ReadResult = { registers: Buffer } | { bits: boolean[] };

function classify(err: unknown): ModbusRequestError {
  if (err instanceof ModbusRequestError) return err;
  const e = err as { modbusCode?: number; errno?: string; message?: string; name?: string };
  if (typeof e.modbusCode === 'number') return new ModbusRequestError('exception', exceptionText(e.modbusCode), e.modbusCode);
  const message = e.message ?? String(err);
  if (e.errno === 'ETIMEDOUT' || /timed out/i.test(message)) return new ModbusRequestError('timeout', 'no response (timed out)');
  if (/crc|data length|unexpected data|invalid|length error/i.test(message)) return new ModbusRequestError('protocol', protocolText(message));
  // The library's parser read past the frame (a byte count larger than the answer): the device
  // answered, badly; as a 'connection' error it sent a device that answers into backoff.
  if (err instanceof RangeError) return new ModbusRequestError('protocol', `malformed answer (its byte count runs past the frame): ${message}`);
  return new ModbusRequestError('connection', message);
}

/**
 * A read answer whose byte count is not the one the request asks for (a device counting registers,
 * not bytes, or a broken TCP gateway) is a protocol error: its values cannot be placed on the tags.
 */
function checkByteCount(got: number, expected: number, asked: string): void {
  if (got !== expected)
    throw new ModbusRequestError(
      'protocol',
      `answer's byte count is ${got} for a read of ${asked} (${expected} expected): a framing fault of the device or of a gateway in front of it`,
    );
}

/**
 * modbus-serial's protocol errors in the plant's words, with the likely cause: "Unexpected data
 * error, expected address 1 got 2" did not say that another device answered.
 */
function protocolText(message: string): string {
  let m = /expected address (\d+) got (\d+)/.exec(message);
  if (m) return `answer from unit ${m[2]} to a request to unit ${m[1]} (two devices with one unit id, or a gateway mapping unit ids wrongly)`;
  m = /expected code (\d+) got (\d+)/.exec(message);
  if (m) return `answer with function code ${m[2]} to a request with function code ${m[1]}`;
  m = /Data length error, expected (\d+) got (\d+)/.exec(message);
  if (m) return `answer frame of ${m[2]} bytes, ${m[1]} expected (the device cut or padded it, or the read is past its table)`;
  if (/^CRC error$/.test(message)) return 'CRC error (noise on the line, or a baud rate, parity or stop bits the device does not use)';
  return message;
}

/** A write's echo as modbus-serial parses it: FC5 {address, state}, FC6 {address, value}, FC16 {address, length}. */
type Echo = { address: number; state?: boolean; value?: number; length?: number };

function checkEcho(echo: Echo, asked: Echo): Echo {
  const keys = Object.keys(asked) as (keyof Echo)[];
  const show = (e: Echo): string => keys.map((k) => `${k} ${e[k]}`).join(', ');
  if (keys.some((k) => echo[k] !== asked[k]))
    throw new ModbusRequestError(
      'protocol',
      `the device's echo names ${show(echo)}, not ${show(asked)}: the write may not have been done as asked (read the tag back)`,
    );
  return echo;
}

/** A connection or port that cannot be opened, with its code and fix (it said only what). */
function openError(endpoint: string, reason: string): string {
  if (endpoint.startsWith('rtu:')) {
    return ERRORS.GH_SERIAL_OPEN(
      { path: endpoint, reason },
      {
        where: endpoint,
        // By its cause, as a serial link's (a port held by another reader is no matter of path or group).
        hint: openHint(reason, 'the source retries by itself'),
      },
    ).describe();
  }
  return ERRORS.GH_SOURCE_CONNECT(
    { endpoint, reason },
    {
      where: endpoint,
      hint: 'check the host and port (502 by default), that the device is on and takes Modbus TCP connections (and has a free one); the source retries by itself',
    },
  ).describe();
}

export class ModbusLink {
  private client: ModbusRTU | null = null;
  private strays: StrayAnswers | undefined;
  /** RTU: the bytes the line brought between requests (rtu-line.ts). */
  private line: RtuLine | undefined;
  private closed = true;
  private onLost: ((reason: string) => void) | null = null;
  /**
   * RTU: monotonic ms (performance.now) before which no request goes out, the 3.5-character
   * silence after the last frame on the bus. Kept here, before every request: a sleep in the poll
   * loop after each read was cut short by a queued write or a stop (its wake-up) and was not taken
   * after a write's answer, so the next request followed the answer at once.
   */
  private quietUntil = 0;
  /**
   * The request waiting for its answer, failed at once when the connection is lost: it waited for
   * its timeout, and a write whose device went away (power cut) with it was answered `no response
   * (timed out)`, not that the connection was lost and the write may have been done.
   */
  private abortInFlight: ((reason: string) => void) | null = null;

  constructor(
    private readonly Modbus: ModbusCtor,
    private readonly target: LinkTarget,
    private readonly timeoutMs: number,
  ) {}

  get isOpen(): boolean {
    return !this.closed && this.client !== null && this.client.isOpen;
  }

  describe(): string {
    return this.target.kind === 'tcp' ? `tcp://${urlHost(this.target.host)}:${this.target.port}` : `rtu:${this.target.path}@${this.target.baudRate}`;
  }

  /** Silent interval between RTU frames (3.5 characters of 11 bits, at least 2 ms); 0 on TCP. */
  interFrameMs(): number {
    return this.target.kind === 'rtu' ? Math.max(2, Math.ceil((3.5 * 11 * 1000) / this.target.baudRate)) : 0;
  }

  /** Open the socket / port; rejects (classified) within timeoutMs. `lost` fires once if it drops later. */
  async open(lost: (reason: string) => void): Promise<void> {
    await this.close();
    const client = new this.Modbus();
    this.client = client;
    this.onLost = lost;
    const t = this.target;
    const connecting =
      t.kind === 'tcp'
        ? client.connectTCP(t.host, { port: t.port, timeout: this.timeoutMs })
        : // (a port whose device hangs up must close, not read end of file forever: core/serial-binding.ts)
          import('../../../../core/serial-binding.js').then(({ hangUpAware }) =>
            client.connectRTUBuffered(t.path, hangUpAware({ baudRate: t.baudRate, dataBits: t.dataBits, parity: t.parity, stopBits: t.stopBits })),
          );
    try {
      await this.guard(connecting, Math.max(this.timeoutMs, 1000), 'connect');
    } catch (err) {
      // The open may still complete after our guard gave up: close that late socket/port too,
      // or its handle would leak (and keep the process alive).
      connecting.then(
        () => client.destroy(() => undefined),
        () => undefined,
      );
      await this.close();
      throw new ModbusRequestError('connection', openError(this.describe(), classify(err).message));
    }
    client.setTimeout(this.timeoutMs);
    this.strays = t.kind === 'tcp' ? new StrayAnswers(client) : undefined;
    this.line = t.kind === 'rtu' ? new RtuLine(client) : undefined;
    this.closed = false;
    // modbus-serial emits 'close' on socket end / port loss; 'error' events must be handled or they throw.
    const c = client as unknown as NodeJS.EventEmitter;
    c.on('error', (err: Error) => this.lose(`error: ${err.message}`));
    c.on('close', () => {
      const foreign = this.strays?.foreign;
      this.lose(foreign ? `closed by peer after ${notModbusText(this.describe(), foreign)}` : 'closed by peer');
    });
  }

  private lose(reason: string): void {
    this.abortInFlight?.(reason);
    if (this.closed) return;
    this.closed = true;
    const cb = this.onLost;
    this.onLost = null;
    cb?.(reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.onLost = null;
    const client = this.client;
    this.client = null;
    if (!client) return;
    // destroy() (not close()) so a half-open TCP socket is torn down at once.
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 1000);
      try {
        client.destroy(() => {
          clearTimeout(done);
          resolve();
        });
      } catch {
        clearTimeout(done);
        resolve();
      }
    });
  }

  private guard<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ModbusRequestError('timeout', `no response to ${what} within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * RTU: ms of silence still owed before the next request: after the last answer, and after the
   * last byte the line brought, but for no longer than timeoutMs from `since` (when the request
   * began to wait): a line that never falls silent (noise on an unbiased bus, another master)
   * delays each request, never holds the poll loop (and stop()) for good.
   */
  private quietLeft(since: number): number {
    const lastByte = this.line && this.line.lastByteAt > 0 ? Math.min(this.line.lastByteAt + this.interFrameMs(), since + this.timeoutMs) : 0;
    return Math.max(this.quietUntil, lastByte) - performance.now();
  }

  private async call<T>(what: string, fn: (client: ModbusRTU, cb: (err: unknown, value: T) => void) => void): Promise<T> {
    // (A timer counts from the event loop's cached time, and may end before the silence has.)
    const since = performance.now();
    for (let quiet = this.quietLeft(since); quiet > 0; quiet = this.quietLeft(since)) await sleep(Math.ceil(quiet));
    const client = this.client;
    if (!client || !this.isOpen) throw new ModbusRequestError('connection', `${this.describe()} is not open`);
    // RTU: what came before the request cannot be its answer (rtu-line.ts).
    this.line?.dropUnread();
    const strays = this.strays;
    const mark = strays?.begin();
    const sentAt = performance.now();
    let abort: ((reason: string) => void) | null = null;
    const p = new Promise<T>((resolve, reject) => {
      abort = (reason) =>
        reject(
          new ModbusRequestError(
            'connection',
            what.startsWith('write')
              ? `connection lost while the write waited for the device's echo (${reason}): it may have been done; read the tag back`
              : `connection lost while the request waited for its answer (${reason})`,
          ),
        );
      this.abortInFlight = abort;
      try {
        fn(client, (err, value) => (err ? reject(classify(err)) : resolve(value)));
      } catch (err) {
        reject(classify(err));
      }
    }).finally(() => {
      // (a request given up by the guard may settle during the next one: that one's stays)
      if (this.abortInFlight === abort) this.abortInFlight = null;
    });
    // The library's own timeout normally fires first; the guard catches a callback that never comes.
    const settled = (): void => {
      if (this.target.kind === 'rtu') this.quietUntil = performance.now() + this.interFrameMs();
    };
    return this.guard(p, this.timeoutMs + 250, what).then(
      (value) => {
        settled();
        if (mark) strays?.end(mark, false);
        return value;
      },
      async (err: unknown) => {
        settled();
        const e = classify(err);
        if (mark) strays?.end(mark, e.kind === 'timeout');
        // Bytes that are no Modbus TCP frame: not a device that answers badly but another service
        // on the port. A connection error: the link is closed (what the library holds of them
        // would be read as the start of every later answer) and opened again with backoff.
        const foreign = mark ? strays?.foreignSince(mark) : undefined;
        if (foreign) {
          const text = notModbusText(this.describe(), foreign);
          this.lose(text);
          throw new ModbusRequestError('connection', text);
        }
        const stray = e.kind === 'timeout' && mark ? strays?.since(mark) : undefined;
        if (stray) throw new ModbusRequestError('out-of-step', outOfStepText(stray));
        // RTU frames carry no transaction id: a slow device's answer arriving after the timeout,
        // while the next request of that unit and function waits, was taken for its answer (register
        // 0's value published as register 10's). The bus stays quiet for one more timeout instead, so
        // a late answer lands on the request that gave up on it (the library drops it there).
        if (e.kind === 'timeout' && this.target.kind === 'rtu') await sleep(this.timeoutMs);
        // RTU, a frame that is no answer (noise taken for one, a damaged CRC): the answer may still
        // be coming, within the request's timeout. Sent at once, the next request of that unit,
        // function and length took it for its own (holding 0's value stored as holding 10's); the
        // line stays quiet until then, and what came meanwhile is dropped (rtu-line.ts).
        if (e.kind === 'protocol' && this.target.kind === 'rtu') this.quietUntil = Math.max(this.quietUntil, sentAt + this.timeoutMs);
        throw e;
      },
    );
  }

  async read(unitId: number, area: Area, address: number, count: number): Promise<ReadResult> {
    const what = `read ${area} ${address}+${count} unit ${unitId}`;
    if (area === 'coil' || area === 'discrete') {
      const fc = area === 'coil' ? 'writeFC1' : 'writeFC2';
      const { data } = await this.call<{ data: boolean[] }>(what, (c, cb) => c[fc](unitId, address, count, cb));
      // The library checks the frame's length, not the byte count inside it: a device whose byte
      // count says 0 gave an empty list, and every coil of the read was published as false.
      checkByteCount(data.length / 8, Math.ceil(count / 8), `${count} bits`);
      return { bits: data };
    }
    const fc = area === 'holding' ? 'writeFC3' : 'writeFC4';
    const { buffer } = await this.call<{ buffer: Buffer }>(what, (c, cb) => c[fc](unitId, address, count, cb));
    checkByteCount(buffer.length, count * 2, `${count} registers`);
    return { registers: buffer };
  }

  /**
   * Write one coil (FC5) or registers (FC6 for one, FC16 for several); resolves with the device's
   * echo, which must repeat the request: an echo naming another address, value or count was
   * answered `ok: true` while the device said it wrote something else.
   */
  async write(unitId: number, area: 'coil' | 'holding', address: number, value: boolean | Buffer): Promise<object> {
    const what = `write ${area} ${address} unit ${unitId}`;
    if (area === 'coil') {
      const state = value === true;
      return checkEcho(await this.call<Echo>(what, (c, cb) => c.writeFC5(unitId, address, state, cb)), { address, state });
    }
    const regs = value as Buffer;
    const words: number[] = [];
    for (let i = 0; i < regs.length; i += 2) words.push(regs.readUInt16BE(i));
    if (words.length === 1) {
      const word = words[0] as number;
      return checkEcho(await this.call<Echo>(what, (c, cb) => c.writeFC6(unitId, address, word, cb)), { address, value: word });
    }
    return checkEcho(await this.call<Echo>(what, (c, cb) => c.writeFC16(unitId, address, words, cb)), { address, length: words.length });
  }
}
