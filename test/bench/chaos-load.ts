// The chaos bench's load (test/bench/chaos.ts): QoS 1 publishers with a unique id in each payload,
// and a log file appended to (a unique id per line) and rotated. They record what was
// acknowledged (PUBACK) and what is on disk, for the check at the end.
import { closeSync, copyFileSync, openSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- publishers --------------------------------------------------------------------------------

export class Publishers {
  readonly acked: Uint8Array;
  /** Per id: the publishing client, and when its PUBACK came (ms since the start): to place a loss. */
  readonly clientOf: Uint8Array;
  readonly ackedAt: Uint32Array;
  next = 0;
  ackedCount = 0;
  errors = 0;
  skipped = 0;
  /** Publish errors by what they were (an MQTT 5 reason code, or the error's message). */
  readonly errorKinds = new Map<string, number>();
  private readonly clients: mqtt.MqttClient[] = [];
  private readonly inflight: number[];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly n: number,
    private readonly rate: number,
    capacity: number,
    private readonly t0: number,
    private readonly window = 200,
    /** The payload's id field, the topic and client id prefixes: `id`, `chaos/c`, `chaos-` (the gateway's devices); `d`, `cloud/c`, `cloud-` (the cloud's commands). */
    private readonly names = { key: 'id', topic: 'chaos/c', client: 'chaos-' },
    /** MQTT 5 (protocolVersion 5): the session keepers also ask for a session expiry (s). */
    private readonly v5?: { sessionExpiryInterval: number },
  ) {
    this.acked = new Uint8Array(capacity);
    this.clientOf = new Uint8Array(capacity);
    this.ackedAt = new Uint32Array(capacity);
    this.inflight = new Array<number>(n).fill(0);
  }

  start(): void {
    for (let i = 0; i < this.n; i++) {
      // Half keep their session (clean false): mqtt.js resends their unacknowledged publishes.
      const clean = i % 2 === 0;
      const c = mqtt.connect(this.url, {
        clientId: `${this.names.client}${i}`,
        clean,
        reconnectPeriod: 300,
        connectTimeout: 5000,
        keepalive: 10,
        ...(this.v5 ? { protocolVersion: 5 as const, properties: clean ? {} : { sessionExpiryInterval: this.v5.sessionExpiryInterval } } : {}),
      });
      c.on('error', () => undefined);
      this.clients.push(c);
    }
    const started = performance.now();
    let owed = 0;
    const pad = 'x'.repeat(100);
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * this.rate) - owed;
      owed += due;
      for (let k = 0; k < due; k++) {
        const c = k % this.n;
        const client = this.clients[c]!;
        if (this.inflight[c]! >= this.window || !client.connected) {
          this.skipped++;
          continue;
        }
        const id = this.next;
        if (id >= this.acked.length) return;
        this.next++;
        this.clientOf[id] = c;
        this.inflight[c]!++;
        client.publish(`${this.names.topic}${c}`, `{"${this.names.key}":${id},"pad":"${pad}"}`, { qos: 1 }, (err) => {
          this.inflight[c]!--;
          // MQTT 5: a PUBACK reason code below 0x80 is a success (mqtt.js hands 0x01-0x7f other than 0x10 on as an error).
          const rc = (err as { code?: unknown } | undefined)?.code;
          if (err && !(typeof rc === 'number' && rc < 0x80)) {
            this.errors++;
            const kind = typeof rc === 'number' ? `reason code 0x${rc.toString(16)}` : err.message.slice(0, 60);
            this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
          } else if (this.acked[id] === 0) {
            this.acked[id] = 1;
            this.ackedAt[id] = Date.now() - this.t0;
            this.ackedCount++;
          }
        });
      }
    }, 20);
  }

  /** Stop publishing; wait (bounded) for the answers to what is in flight. */
  async stop(timeoutMs = 60_000): Promise<number> {
    clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.some((n) => n > 0) && Date.now() < deadline) await sleep(100);
    const left = this.inflight.reduce((a, b) => a + b, 0);
    await Promise.all(this.clients.map((c) => c.endAsync(true)));
    return left;
  }
}

// ---- the log file: appended to, rotated --------------------------------------------------------

export class LogFile {
  next = 0;
  rotations = { create: 0, copytruncate: 0 };
  private fd: number;
  private timer: NodeJS.Timeout | undefined;
  private k = 0;

  constructor(
    readonly dir: string,
    private readonly perSecond: number,
  ) {
    this.fd = openSync(this.path, 'a');
  }

  get path(): string {
    return join(this.dir, 'app.log');
  }

  start(): void {
    const started = performance.now();
    const pad = 'y'.repeat(80);
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) / 1000) * this.perSecond) - this.next;
      let chunk = '';
      for (let i = 0; i < due; i++) chunk += `{"f":${this.next++},"pad":"${pad}"}\n`;
      if (chunk) writeSync(this.fd, chunk);
    }, 50);
  }

  /** Rotate now (synchronously: no line is written between copy and truncate, so none is lost on disk). */
  rotate(mode: 'create' | 'copytruncate'): void {
    const to = `${this.path}.${String(++this.k).padStart(4, '0')}`;
    if (mode === 'create') {
      renameSync(this.path, to);
      closeSync(this.fd);
      this.fd = openSync(this.path, 'a');
    } else {
      copyFileSync(this.path, to);
      truncateSync(this.path, 0);
    }
    this.rotations[mode]++;
  }

  stop(): void {
    clearInterval(this.timer);
    closeSync(this.fd);
  }

  /** Ids of the whole lines in every file of the folder (the live file and rotated copies). */
  async idsOnDisk(): Promise<{ ids: number[]; bad: number; where: Map<number, string> }> {
    const ids: number[] = [];
    const where = new Map<number, string>();
    let bad = 0;
    for (const name of (await readdir(this.dir)).sort()) {
      const text = await readFile(join(this.dir, name), 'utf8');
      let n = 0;
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const f = (JSON.parse(line) as { f: number }).f;
          ids.push(f);
          where.set(f, `${name} line ${n++} of ${text.split('\n').length - 1}`);
        } catch {
          bad++;
        }
      }
    }
    return { ids, bad, where };
  }
}

/**
 * One hostile client, of a kind picked by `r` in [0, 1): garbage bytes on a raw socket, a CONNECT
 * cut off half-way and left open, a client taking over a publisher's client id `victim`
 * (MQTT 3.1.1, clean session: the publisher's session is discarded, an MQTT 5 one's too), or a 200 KB publish (JSON without an id: counted as
 * unparsable upstream). Resolves with what it did; never throws.
 */
export async function hostileClient(port: number, r: number, victim = 'chaos-1'): Promise<string> {
  if (r < 0.5) {
    const garbage = r < 0.25;
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    // CONNECT, remaining length 100, then only 10 bytes of it: the broker waits for the rest.
    s.write(
      garbage ? Buffer.from('GET / HTTP/1.1\r\n\r\n\u0000\u00ff\u00ff\u00ff\u00ff') : Buffer.from([0x10, 100, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 10]),
    );
    setTimeout(() => s.destroy(), 15_000).unref();
    return garbage ? 'garbage bytes on a raw socket' : 'a CONNECT cut off half-way, left open 15 s';
  }
  const takeover = r < 0.75;
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: takeover ? victim : 'chaos-hostile',
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  c.on('error', () => undefined);
  // Bounded: a publish the gateway refuses (a full disk) closes the connection without an answer,
  // and mqtt.js with reconnectPeriod 0 then never calls back.
  const outcome = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('no answer within 10 s'), 10_000);
    const done = (what: string): void => {
      clearTimeout(timer);
      resolve(what);
    };
    c.once('close', () => done('connection closed'));
    c.once('connect', () => {
      if (takeover) done('connected');
      // No key a leg's id uses (id, v, f, d, s, h: chaos-report.ts deadLetterIds): it was {"h":1}, and
      // its dead letter at a destination with a record limit (mqtt: 128 KiB) read as the http leg's record 1.
      else
        c.publish('hostile/big', JSON.stringify({ hostile: true, pad: 'z'.repeat(200_000) }), { qos: 1 }, (err) =>
          done(err ? `refused: ${err.message}` : 'PUBACKed'),
        );
    });
  });
  c.end(true);
  return takeover ? `a client taking over publisher ${victim}'s client id (MQTT 3.1.1, clean session): ${outcome}` : `a 200 KB QoS 1 publish: ${outcome}`;
}
