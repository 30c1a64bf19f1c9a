// Retained messages across restarts: aedes keeps them in memory only, so a gateway restart (a
// power cut, an update) lost every retained message (device status, configuration pushed to
// devices), which mosquitto users expect to survive (its `persistence true`). This mirror follows
// every retained store and delete into `mqtt-retained.json` (a snapshot) and
// `mqtt-retained.json.journal` (each change one line, written in batches within FLUSH_DELAY_MS;
// compacted into a new snapshot when it outgrows the set, and at stop: state-journal.ts). Each
// change costs its own bytes, not a rewrite of the whole set (50,000 topics: a 1.4 MB file
// rewritten, blocking the event loop for tens of ms, for one changed topic). A retained message is
// broker state, not data: the PUBACK does not wait for this file (the message itself is in its
// local stream when a rule routes it there); a kill -9 loses at most the last FLUSH_DELAY_MS of
// changes (and those made during a compaction in progress: docs/broker.md has the figures).
import type { Logger } from 'pino';
import { clocksOf, monotonicOf, wallOf, type Clocks } from '../../core/clock.js';
import { decodeProps, encodeProps } from './props-json.js';
import { StateJournal, type JournalStats, type StateRecord } from './state-journal.js';

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
 * One retained message as kept: what its line in the files is written from, when it is written
 * (a journal batch, a snapshot: record by record, state-journal.ts). Its line itself is not kept:
 * beside the packet's payload (the same Buffer as aedes' store holds) it was a second copy of the
 * whole set, ~1.37x the payloads (28 MB for 20,000 retained messages of 1 KiB).
 */
interface Entry {
  /** The packet's payload: the Buffer aedes stores (not a copy). */
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** The MQTT 5 properties as their JSON text (encodeProps), or undefined. */
  properties: string | undefined;
  /** The deadline as in the file (wall time, epoch ms), and in memory (monotonic ms). */
  wallExpiry: number | undefined;
  expiry: number | undefined;
  /**
   * The fields of a record read that this version does not write (a later version's, before a
   * rollback), as JSON text (`,"k":v`...): kept in the next snapshot as its line kept them.
   */
  extra: string | undefined;
}

/** Characters of an entry's line besides its topic, payload, properties, expiry and extra fields. */
const LINE_FIXED = '{"topic":,"payload":"","qos":0}'.length;

/** The entry's line: the same text as JSON.stringify of its StoredRetained. */
function lineOf(topic: string, e: Entry): string {
  const properties = e.properties === undefined ? '' : `,"properties":${e.properties}`;
  const expiry = e.wallExpiry === undefined ? '' : `,"messageExpiry":${JSON.stringify(e.wallExpiry)}`;
  return `{"topic":${JSON.stringify(topic)},"payload":"${e.payload.toString('base64')}","qos":${e.qos}${properties}${expiry}${e.extra ?? ''}}`;
}

/** Characters of lineOf(topic, e) + its newline, without making it (liveBytes: when to compact). */
function charsOf(topic: string, e: Entry): number {
  return (
    LINE_FIXED +
    1 +
    JSON.stringify(topic).length +
    4 * Math.ceil(e.payload.length / 3) +
    (e.properties === undefined ? 0 : ',"properties":'.length + e.properties.length) +
    (e.wallExpiry === undefined ? 0 : ',"messageExpiry":'.length + JSON.stringify(e.wallExpiry).length) +
    (e.extra?.length ?? 0)
  );
}

/** Same line in the files (a device publishing the same retained state again: no write). */
function sameLine(a: Entry, b: Entry): boolean {
  return a.qos === b.qos && a.properties === b.properties && a.wallExpiry === b.wallExpiry && a.extra === b.extra && a.payload.equals(b.payload);
}

/** The fields of a record that lineOf() writes from the entry (the rest go to `extra`). */
const WRITTEN = new Set(['topic', 'payload', 'qos', 'properties', 'messageExpiry']);

/** Changes are written this long after the first one at most: what a kill -9 can lose. */
const FLUSH_DELAY_MS = 200;

export class RetainedFile {
  private readonly byTopic = new Map<string, Entry>();
  /** Topics changed since the last write (at most one mark a topic: bounded by the set). */
  private marked = new Set<string>();
  private bytes = 0;
  readonly journal: StateJournal;
  private loaded = false;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly clocks: Clocks = clocksOf({}),
    flushDelayMs = FLUSH_DELAY_MS,
    private readonly stats: JournalStats = { stateTornLines: 0, stateCorruptFiles: 0, stateWriteErrors: 0 },
  ) {
    this.journal = new StateJournal({ file, kind: 'mqtt-retained', log, stats, now: () => this.clocks.now(), flushDelayMs });
  }

  /** A change waits to be written. */
  get dirty(): boolean {
    return this.marked.size > 0;
  }

  /** Retained messages held. */
  get size(): number {
    return this.byTopic.size;
  }

  /** A retained publish reached the store: an empty payload deletes the topic's message. */
  note(packet: { topic: string; payload: Buffer | string; qos: number; properties?: unknown; messageExpiry?: number }): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length === 0) {
      const before = this.byTopic.get(packet.topic);
      if (!before) return;
      this.byTopic.delete(packet.topic);
      this.bytes -= charsOf(packet.topic, before);
    } else {
      const properties = encodeProps(packet.properties as object | undefined);
      const entry: Entry = {
        payload,
        qos: Math.min(2, Math.max(0, packet.qos)) as 0 | 1 | 2,
        properties: properties === undefined ? undefined : JSON.stringify(properties),
        // the deadline as wall time: a monotonic value means nothing to the next process
        wallExpiry: packet.messageExpiry === undefined ? undefined : wallOf(packet.messageExpiry, this.clocks),
        expiry: packet.messageExpiry,
        extra: undefined,
      };
      // Devices often publish the same retained state again ("online" at every connect): no write.
      const before = this.byTopic.get(packet.topic);
      if (before !== undefined && sameLine(before, entry)) return;
      this.byTopic.set(packet.topic, entry);
      this.bytes += charsOf(packet.topic, entry) - (before ? charsOf(packet.topic, before) : 0);
    }
    this.marked.add(packet.topic);
    if (this.loaded) this.journal.touch();
  }

  /** The retained messages of the last run, expired ones left out (no file: none). */
  async load(): Promise<RetainedPacket[]> {
    const now = this.clocks.now();
    // each message as aedes gets it, made as its record is read: the record (its payload as
    // base64 text) and its line are dropped at once, the packet's Buffer kept for aedes and the files
    const packets = new Map<string, RetainedPacket>();
    let ignored: string[] = [];
    const apply = (r: StateRecord): void => {
      if (typeof r.topic !== 'string') return;
      const before = this.byTopic.get(r.topic);
      if (before) this.bytes -= charsOf(r.topic, before);
      this.byTopic.delete(r.topic);
      packets.delete(r.topic);
      if (r.deleted === true || typeof r.payload !== 'string') return;
      const damage = damaged(r, r.topic);
      if (damage !== undefined) {
        // left out, and deleted in the files at the next write (see damaged())
        ignored.push(damage);
        this.marked.add(r.topic);
        return;
      }
      const expiry = typeof r.messageExpiry === 'number' ? r.messageExpiry : undefined;
      if (expiry !== undefined && expiry <= now) return;
      const payload = Buffer.from(r.payload, 'base64');
      let extra: string | undefined;
      for (const key of Object.keys(r)) if (!WRITTEN.has(key)) extra = `${extra ?? ''},${JSON.stringify(key)}:${JSON.stringify(r[key])}`;
      const entry: Entry = {
        payload,
        qos: r.qos as 0 | 1 | 2,
        properties: r.properties === undefined ? undefined : JSON.stringify(r.properties),
        wallExpiry: expiry,
        expiry: expiry === undefined ? undefined : monotonicOf(expiry, this.clocks),
        extra,
      };
      this.byTopic.set(r.topic, entry);
      this.bytes += charsOf(r.topic, entry);
      const packet: RetainedPacket = {
        cmd: 'publish',
        topic: r.topic,
        payload,
        qos: r.qos as 0 | 1 | 2,
        retain: true,
        dup: false,
      };
      const properties = decodeProps(r.properties);
      if (properties) packet.properties = properties;
      packets.set(r.topic, packet);
    };
    const legacy = (doc: unknown): void => {
      // the whole-file JSON of earlier versions: { savedAt, retained: StoredRetained[] }
      const list = (doc as { retained?: unknown }).retained;
      if (!Array.isArray(list)) return;
      for (const r of list as StoredRetained[]) {
        if (typeof r?.topic !== 'string' || typeof r.payload !== 'string') continue;
        const { topic, payload, qos, properties, messageExpiry } = r;
        apply({ topic, payload, qos, ...(properties !== undefined ? { properties } : {}), ...(messageExpiry !== undefined ? { messageExpiry } : {}) });
      }
    };
    // a corrupt snapshot found after some of its records were applied: none of it is kept
    const discard = (): void => {
      this.byTopic.clear();
      this.marked.clear();
      this.bytes = 0;
      packets.clear();
      ignored = [];
    };
    await this.journal.load(this, apply, legacy, discard);
    if (ignored.length > 0) {
      this.stats.stateTornLines += ignored.length;
      this.log.warn(
        { file: this.file, ignoredRecords: ignored.length, examples: ignored.slice(0, 3), code: 'GH_BROKER_STATE_FILE' },
        `mqtt-retained state: ${ignored.length} damaged record(s) left out (${ignored.slice(0, 3).join('; ')})`,
      );
    }
    await this.journal.start();
    this.loaded = true;
    if (this.marked.size > 0) this.journal.touch();
    const out: RetainedPacket[] = [];
    for (const [topic, { expiry }] of this.byTopic) {
      const packet = packets.get(topic);
      if (!packet) continue;
      if (expiry !== undefined) packet.messageExpiry = expiry;
      out.push(packet);
    }
    return out;
  }

  collect(): Iterable<string> {
    // the marks taken now, each line made as the journal writes it (a change meanwhile marks its
    // topic again: written in the next batch too)
    const topics = this.marked;
    this.marked = new Set();
    return this.linesOf(topics);
  }

  private *linesOf(topics: Set<string>): Iterable<string> {
    for (const topic of topics) {
      const entry = this.byTopic.get(topic);
      yield entry ? lineOf(topic, entry) : JSON.stringify({ topic, deleted: true });
    }
  }

  *snapshot(): Iterable<string> {
    this.marked.clear();
    const now = this.clocks.monotonic();
    for (const [topic, entry] of this.byTopic) if (entry.expiry === undefined || entry.expiry > now) yield lineOf(topic, entry);
  }

  liveBytes(): number {
    return this.bytes;
  }

  /** Write what is pending and a final snapshot, and stop. */
  async close(): Promise<void> {
    await this.journal.close();
  }
}

/**
 * Why a retained record that parses is not what the broker writes (a damaged disk, a hand edit), or
 * undefined. A QoS that is no 0, 1 or 2 went to every subscriber of the topic at SUBSCRIBE, where
 * writing it failed: each '#' subscriber's connection was lost at once, for as long as the message
 * was retained (found by test/e2e/fuzz-state-files.test.ts).
 */
function damaged(r: StateRecord, topic: string): string | undefined {
  if (topic === '' || topic.includes('+') || topic.includes('#')) return `topic '${topic}' is no topic name`;
  if (r.qos !== 0 && r.qos !== 1 && r.qos !== 2) return `'${topic}' with QoS ${JSON.stringify(r.qos)}`;
  if (r.properties !== undefined && (typeof r.properties !== 'object' || r.properties === null || Array.isArray(r.properties)))
    return `'${topic}' with properties ${JSON.stringify(r.properties)}`;
  if (r.messageExpiry !== undefined && typeof r.messageExpiry !== 'number') return `'${topic}' with messageExpiry ${JSON.stringify(r.messageExpiry)}`;
  return undefined;
}
