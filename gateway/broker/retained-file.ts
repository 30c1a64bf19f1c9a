// Retained messages across restarts: aedes keeps them in memory only, so a gateway restart (a
// power cut, an update) lost every retained message (device status, configuration pushed to
// devices), which mosquitto users expect to survive (its `persistence true`). This mirror follows
// every retained store and delete, and writes the whole set as JSON, at most once a second (atomic
// by rename; an unchanged message is no change) and at stop, the way MQTT 5 sessions are kept
// (v5/session.ts). A retained message is broker state, not data: the PUBACK does not wait for this
// file (the message itself is in its local stream when a rule routes it there); a kill -9 loses at
// most the last second of changes.
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { clocksOf, monotonicOf, wallOf, type Clocks } from '../../core/clock.js';
import { decodeProps, encodeProps } from './props-json.js';

/** The fields of a retained packet that matter to subscribers (aedes rebuilds the packet on delivery). */
export interface RetainedPacket {
  cmd: 'publish';
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: true;
  dup: false;
  /** MQTT 5 properties (user properties, content type, correlation data, ...). */
  properties?: Record<string, unknown>;
  /** Deadline of a v5 Message Expiry Interval, monotonic ms (v5/router.ts). */
  messageExpiry?: number;
}

/** In memory `messageExpiry` is monotonic ms; in the file, wall time (epoch ms): it must survive a restart. */
interface StoredRetained {
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  properties?: unknown;
  messageExpiry?: number;
}

/**
 * Changes are gathered this long before the file is written again: the whole set is rewritten each
 * time, so on an SD card a fleet that updates retained state every second must not cost a write per
 * update. A kill -9 loses at most this long of changes.
 */
const SAVE_DELAY_MS = 1000;
/**
 * A large set waits longer, so the file costs at most this many bytes a second on average (10,000
 * retained topics of 1 KiB rewritten every second were 14 MB/s), and never more than
 * MAX_SAVE_DELAY_MS (what a kill -9 can lose). Broker audit; the MQTT 5 session file does the same.
 */
const SAVE_BYTES_PER_SECOND = 512 * 1024;
const MAX_SAVE_DELAY_MS = 10_000;

export class RetainedFile {
  private readonly byTopic = new Map<string, StoredRetained>();
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;
  /** Writes of the file so far (tests). */
  saves = 0;
  /** The wait before the next write: delayMs, longer for a large file (SAVE_BYTES_PER_SECOND). */
  private waitMs: number;
  /** Monotonic ms when the last save ended (the wait counts from there). */
  private lastSaveEnd = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly clocks: Clocks = clocksOf({}),
    private readonly delayMs = SAVE_DELAY_MS,
  ) {
    this.waitMs = delayMs;
  }

  /** A change waits to be written. */
  get dirty(): boolean {
    return this.timer !== undefined;
  }

  /** A retained publish reached the store: an empty payload deletes the topic's message. */
  note(packet: { topic: string; payload: Buffer | string; qos: number; properties?: unknown; messageExpiry?: number }): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length === 0) {
      if (!this.byTopic.delete(packet.topic)) return;
    } else {
      const stored: StoredRetained = { topic: packet.topic, payload: payload.toString('base64'), qos: Math.min(2, Math.max(0, packet.qos)) as 0 | 1 | 2 };
      const properties = encodeProps(packet.properties as object | undefined);
      if (properties !== undefined) stored.properties = properties;
      if (packet.messageExpiry !== undefined) stored.messageExpiry = packet.messageExpiry;
      // Devices often publish the same retained state again ("online" at every connect): no write.
      const before = this.byTopic.get(packet.topic);
      if (before !== undefined && JSON.stringify(before) === JSON.stringify(stored)) return;
      this.byTopic.set(packet.topic, stored);
    }
    this.schedule();
  }

  /** The retained messages of the last run, expired ones left out (a missing file: none). */
  async load(): Promise<RetainedPacket[]> {
    let raw: string;
    try {
      raw = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: errorMessage(err), file: this.file }, 'cannot read retained messages: starting without them');
      return [];
    }
    let stored: { retained?: StoredRetained[] };
    try {
      stored = JSON.parse(raw) as typeof stored;
    } catch (err) {
      this.log.warn({ err: errorMessage(err), file: this.file }, 'retained message file is corrupt: starting without retained messages');
      return [];
    }
    const now = this.clocks.now();
    const out: RetainedPacket[] = [];
    for (const r of stored.retained ?? []) {
      if (typeof r?.topic !== 'string' || typeof r.payload !== 'string') continue;
      if (r.messageExpiry !== undefined && r.messageExpiry <= now) continue;
      const packet: RetainedPacket = { cmd: 'publish', topic: r.topic, payload: Buffer.from(r.payload, 'base64'), qos: r.qos, retain: true, dup: false };
      const properties = decodeProps(r.properties);
      if (properties) packet.properties = properties;
      if (r.messageExpiry !== undefined) packet.messageExpiry = monotonicOf(r.messageExpiry, this.clocks);
      out.push(packet);
    }
    return out;
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.arm(this.waitMs);
  }

  /**
   * Save in `ms`, or later if the last save ended less than waitMs ago: a change noted while a large
   * file was being written was armed with the wait from before that write (two 1.4 MB writes 1 s apart).
   */
  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.saving = this.saving.then(() => {
        const rest = this.lastSaveEnd + this.waitMs - this.clocks.monotonic();
        if (rest > 1 && !this.closed) return this.arm(rest);
        this.timer = undefined;
        return this.save();
      });
    }, ms);
    this.timer.unref();
  }

  private async save(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      // message deadlines as wall time: a monotonic value means nothing to the next process
      const retained = [...this.byTopic.values()].map((r) =>
        r.messageExpiry === undefined ? r : { ...r, messageExpiry: wallOf(r.messageExpiry, this.clocks) },
      );
      const text = JSON.stringify({ savedAt: this.clocks.now(), retained });
      await writeFile(tmp, text);
      await rename(tmp, this.file);
      this.saves++;
      this.waitMs = Math.max(this.delayMs, Math.min(MAX_SAVE_DELAY_MS, (text.length / SAVE_BYTES_PER_SECOND) * 1000));
    } catch (err) {
      this.log.warn({ err: errorMessage(err), file: this.file }, 'cannot save retained messages');
    }
    this.lastSaveEnd = this.clocks.monotonic();
  }

  /** Write the final set and stop. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.saving;
    await this.save();
  }
}
