// The host application's view of the edge nodes and devices (Sparkplug B): which are online, the
// bdSeq and seq of each node's session, each birth's metric names, aliases and datatypes; and what
// each message becomes (the JSON the rules get), with the faults it shows.
//
// Invariants:
// - Every NBIRTH, NDATA, NDEATH, DBIRTH, DDATA and DDEATH gives one JSON message, whatever its
//   faults: what cannot be resolved is kept (an alias as its number, `unresolved: true`), what
//   cannot be decoded is kept as base64 (`undecodable`). The faults are counted, never a reason to
//   drop a message.
// - seq runs 0-255 per node over NBIRTH, DBIRTH, NDATA, DDATA and DDEATH (NBIRTH sets it): a
//   message whose seq is not the last + 1 (mod 256) is a gap; data of a node or device with no
//   birth in this session, an alias not in the birth: each puts the node in need of a rebirth
//   until its next NBIRTH, and the first fault of such an episode is said once (`log`).
// - An NDEATH ends the session only when its bdSeq is the NBIRTH's: one of an earlier session (its
//   will, delivered late) changes nothing (`stale: true`).
// - Bounded: at most maxNodes nodes (an offline one is forgotten, the longest unseen first, to make
//   room), maxDevicesPerNode devices each, maxMetricsPerNode metric definitions per node and its
//   devices; past a bound the message is kept, what it would have added is not (`untracked`,
//   counted), and the node is not asked for a rebirth for what the gateway itself left out.
// - Held in memory only: a restart starts empty, and the first data message of each node asks it
//   for a rebirth (what a host application does when it connects).
import type { RawMetric, RawPayload } from './schema.js';
import { uint64, type Json } from './values.js';
import { defineMetrics, emptyMetrics, metricJson, type Metrics } from './metric-defs.js';
import type { MessageType } from './topic.js';

export type Problem = 'seq-gap' | 'before-birth' | 'unknown-alias' | 'bdseq-mismatch' | 'undecodable' | 'late';
export type Bound = 'max-nodes' | 'max-devices' | 'max-metrics';

export interface Bounds {
  maxNodes: number;
  maxDevicesPerNode: number;
  maxMetricsPerNode: number;
}

export interface DeviceState extends Metrics {
  online: boolean;
  birthAt: number | undefined;
}

export interface NodeState extends Metrics {
  group: string;
  node: string;
  online: boolean;
  birthAt: number | undefined;
  /** When its NDEATH (or a dropped birth) took it offline. */
  offlineAt: number | undefined;
  bdSeq: string | undefined;
  /** The NBIRTH payload's timestamp (the edge node's clock): what was sent before it is of an earlier session. */
  birthTs: bigint | undefined;
  lastSeq: number | undefined;
  devices: Map<string, DeviceState>;
  /** Metric definitions held for the node and its devices. */
  defs: number;
  /** A fault since the last NBIRTH: a rebirth is wanted. */
  needsRebirth: boolean;
  /** A birth of this node (or a device's) was too large for the connection: a rebirth would send it again, and it would be dropped again. */
  birthDropped: boolean;
  /** The fault of this episode has been said. */
  said: boolean;
  lastSeenAt: number;
  lastRebirthAt: number | undefined;
}

export interface Outcome {
  /** The message's JSON. */
  json: { [k: string]: Json };
  problems: Problem[];
  /** Metrics whose alias no birth named. */
  unresolved: number;
  bounds: Bound[];
  /** Births and deaths, by level, for the counters. */
  birth?: 'node' | 'device';
  death?: 'node' | 'device';
  /** Ask the node for a rebirth now (rate-limited per node: `rebirthHeld` when the limit holds it). */
  rebirth: boolean;
  rebirthHeld: boolean;
  /** The first fault of an episode of this node, to log. */
  log?: string;
}

export interface StateOptions extends Bounds {
  /** Send rebirth requests (the `rebirth` option). */
  rebirth: boolean;
  /** At most one rebirth request per node per this many ms. */
  rebirthIntervalMs: number;
}

const key = (group: string, node: string): string => `${group}/${node}`;

export class SparkplugState {
  private readonly nodes = new Map<string, NodeState>();

  constructor(private readonly o: StateOptions) {}

  /** One message of an edge node or device; `raw` undefined with `error`: its payload did not decode. */
  message(
    t: { group: string; type: MessageType; node: string; device?: string | undefined },
    raw: RawPayload | undefined,
    now: number,
    error?: string,
  ): Outcome {
    const out: Outcome = { json: { group: t.group, node: t.node }, problems: [], unresolved: 0, bounds: [], rebirth: false, rebirthHeld: false };
    if (t.device !== undefined) out.json.device = t.device;
    out.json.type = t.type;
    if (raw === undefined) {
      out.problems.push('undecodable');
      out.json.undecodable = error ?? 'not a Sparkplug B payload';
      return out;
    }
    if (raw.timestamp !== undefined) out.json.timestamp = uint64(raw.timestamp)!;
    const seq = raw.seq === undefined ? undefined : Number(BigInt.asUintN(64, BigInt(raw.seq)));
    if (seq !== undefined) out.json.seq = seq;
    if (raw.uuid !== undefined) out.json.uuid = raw.uuid;
    if (raw.body !== undefined) out.json.body = Buffer.from(raw.body).toString('base64');
    switch (t.type) {
      case 'NBIRTH':
        this.nodeBirth(t, raw, seq, now, out);
        break;
      case 'NDEATH':
        this.nodeDeath(t, raw, now, out);
        break;
      default:
        this.inSession(t, raw, seq, now, out);
    }
    const n = this.nodes.get(key(t.group, t.node));
    if (n) this.maybeRebirth(n, out, false);
    return out;
  }

  private nodeBirth(t: { group: string; node: string }, raw: RawPayload, seq: number | undefined, now: number, out: Outcome): void {
    out.birth = 'node';
    const bdSeq = bdSeqOf(raw);
    if (bdSeq !== undefined) out.json.bdSeq = uint64(bdSeq)!;
    const n = this.node(t.group, t.node, now, out);
    if (!n) {
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, undefined, out));
      return;
    }
    n.online = true;
    n.birthAt = now;
    n.bdSeq = bdSeq;
    n.birthTs = raw.timestamp === undefined ? undefined : BigInt(raw.timestamp);
    n.lastSeq = seq ?? 0;
    n.needsRebirth = false;
    n.birthDropped = false;
    n.said = false;
    // A new session: the devices come again with their DBIRTHs.
    for (const d of n.devices.values()) {
      d.online = false;
      d.aliases.clear();
      d.names.clear();
      d.truncated = false;
    }
    n.aliases.clear();
    n.names.clear();
    n.truncated = false;
    n.defs = 0;
    this.define(n, n, raw.metrics ?? [], out);
    out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, n, out));
  }

  private nodeDeath(t: { group: string; node: string }, raw: RawPayload, now: number, out: Outcome): void {
    out.death = 'node';
    const bdSeq = bdSeqOf(raw);
    if (bdSeq !== undefined) out.json.bdSeq = uint64(bdSeq)!;
    out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, undefined, out));
    const n = this.nodes.get(key(t.group, t.node));
    if (!n) return;
    n.lastSeenAt = now;
    if (n.online && n.bdSeq !== undefined && bdSeq !== undefined && BigInt(n.bdSeq) !== BigInt(bdSeq)) {
      // The will of an earlier session, delivered after this session's birth: this session lives on.
      out.json.stale = true;
      this.fault(n, 'bdseq-mismatch', `NDEATH with bdSeq ${bdSeq} while the session's NBIRTH had ${n.bdSeq}: ignored (an earlier session's death)`, out, false);
      return;
    }
    const wasOnline = [...n.devices].filter(([, d]) => d.online).map(([name]) => name);
    n.online = false;
    n.offlineAt = now;
    // A dead node answers no rebirth request: its next NBIRTH comes when it reconnects.
    n.needsRebirth = false;
    for (const d of n.devices.values()) d.online = false;
    out.json.devicesOffline = wasOnline;
  }

  /** DBIRTH, NDATA, DDATA, DDEATH (and commands, which the source does not hand here). */
  private inSession(
    t: { group: string; type: MessageType; node: string; device?: string | undefined },
    raw: RawPayload,
    seq: number | undefined,
    now: number,
    out: Outcome,
  ): void {
    const isDevice = t.device !== undefined;
    if (t.type === 'DBIRTH') out.birth = 'device';
    if (t.type === 'DDEATH') out.death = 'device';
    const n = this.nodes.get(key(t.group, t.node)) ?? (t.type === 'DDEATH' ? undefined : this.node(t.group, t.node, now, out));
    if (n) n.lastSeenAt = now;
    if (!n?.online) {
      // No NBIRTH of this session seen (the gateway started after it, or it was lost).
      if (t.type !== 'DDEATH') {
        out.json.beforeBirth = true;
        if (n) this.fault(n, 'before-birth', `${t.type} of ${isDevice ? `device '${t.device}' of ` : ''}a node with no NBIRTH seen`, out, true);
        else out.problems.push('before-birth');
      }
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, undefined, out));
      return;
    }
    // A DBIRTH is always taken: births travel at QoS 0 (no broker queues them), and an edge node
    // whose birth timestamps lag (a clock stepped back) must not lose its device's names.
    if (t.type !== 'DBIRTH' && this.late(n, raw)) {
      // A message of an earlier session the broker delivered after this session's NBIRTH (QoS 1
      // queued in the host's persistent session while the gateway was down, delivered alongside
      // the live QoS 0 messages): not a gap of this session, no reason for a rebirth, and it
      // changes no state; its aliases are named by this session's births (edge nodes keep them).
      out.json.late = true;
      out.problems.push('late');
      const d = isDevice ? n.devices.get(t.device as string) : n;
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, d, out));
      return;
    }
    this.checkSeq(n, seq, t.type, out);
    if (!isDevice) {
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, n, out));
      if (out.unresolved > 0) this.fault(n, 'unknown-alias', `${t.type} names aliases its NBIRTH did not`, out, !n.truncated);
      return;
    }
    const device = t.device as string;
    let d = n.devices.get(device);
    if (t.type === 'DBIRTH') {
      if (!d) {
        if (n.devices.size >= this.o.maxDevicesPerNode) {
          out.bounds.push('max-devices');
          out.json.untracked = true;
          out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, undefined, out));
          return;
        }
        d = { ...emptyMetrics(), online: false, birthAt: undefined };
        n.devices.set(device, d);
      }
      // defs counts names (define): the device's go, its aliases were never counted.
      n.defs -= d.names.size;
      d.aliases.clear();
      d.names.clear();
      d.truncated = false;
      d.online = true;
      d.birthAt = now;
      this.define(n, d, raw.metrics ?? [], out);
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, d, out));
      return;
    }
    if (t.type === 'DDEATH') {
      if (d) d.online = false;
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, d, out));
      return;
    }
    if (!d?.online) {
      out.json.beforeBirth = true;
      this.fault(n, 'before-birth', `${t.type} of device '${device}' with no DBIRTH seen in this session`, out, true);
      out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, undefined, out));
      return;
    }
    out.json.metrics = (raw.metrics ?? []).map((m) => metricJson(m, d, out));
    if (out.unresolved > 0) this.fault(n, 'unknown-alias', `${t.type} of device '${device}' names aliases its DBIRTH did not`, out, !d.truncated);
  }

  /**
   * Sent (by the edge node's own clock) before the session's NBIRTH. The timestamp alone decides:
   * the seq cannot (a queued message's seq may well be the next one of the new session).
   */
  private late(n: NodeState, raw: RawPayload): boolean {
    return n.birthTs !== undefined && raw.timestamp !== undefined && BigInt(raw.timestamp) < n.birthTs;
  }

  private checkSeq(n: NodeState, seq: number | undefined, type: string, out: Outcome): void {
    const expected = ((n.lastSeq ?? 0) + 1) % 256;
    if (seq === expected) {
      n.lastSeq = seq;
      return;
    }
    out.json.seqGap = { expected, got: seq ?? null };
    // Resynchronised on what came: one lost message is one gap, not one per message after it.
    if (seq !== undefined) n.lastSeq = seq % 256;
    this.fault(n, 'seq-gap', `${type} with seq ${seq ?? 'none'} where ${expected} was next: messages were lost`, out, true);
  }

  /** Count a fault, say it once per episode, and ask for a rebirth when `rebirth`. */
  private fault(n: NodeState, problem: Problem, what: string, out: Outcome, rebirth: boolean): void {
    out.problems.push(problem);
    if (!n.said) {
      n.said = true;
      out.log = `edge node '${n.group}/${n.node}': ${what}${rebirth && this.o.rebirth && !n.birthDropped ? '; a rebirth is requested' : ''}`;
    }
    if (!rebirth) return;
    n.needsRebirth = true;
    this.maybeRebirth(n, out, true);
  }

  /**
   * A rebirth request, at most one per node per rebirthIntervalMs: asked at a fault, and again at
   * any message of a node still waiting for its NBIRTH (the request or the birth was lost).
   */
  private maybeRebirth(n: NodeState, out: Outcome, atFault: boolean): void {
    if (!this.o.rebirth || !n.needsRebirth || out.rebirth || n.birthDropped) return;
    const now = n.lastSeenAt;
    if (n.lastRebirthAt !== undefined && now - n.lastRebirthAt < this.o.rebirthIntervalMs) {
      if (atFault) out.rebirthHeld = true;
      return;
    }
    n.lastRebirthAt = now;
    out.rebirth = true;
  }

  /** The node's state, made when new (room made by forgetting the longest unseen offline node); undefined past maxNodes. */
  private node(group: string, node: string, now: number, out: Outcome): NodeState | undefined {
    const k = key(group, node);
    let n = this.nodes.get(k);
    if (!n) {
      if (this.nodes.size >= this.o.maxNodes && !this.forgetOne()) {
        out.bounds.push('max-nodes');
        out.json.untracked = true;
        return undefined;
      }
      n = {
        ...emptyMetrics(),
        group,
        node,
        online: false,
        birthAt: undefined,
        offlineAt: undefined,
        bdSeq: undefined,
        birthTs: undefined,
        lastSeq: undefined,
        devices: new Map(),
        defs: 0,
        needsRebirth: false,
        birthDropped: false,
        said: false,
        lastSeenAt: now,
        lastRebirthAt: undefined,
      };
      this.nodes.set(k, n);
    }
    n.lastSeenAt = now;
    return n;
  }

  private forgetOne(): boolean {
    let oldest: [string, NodeState] | undefined;
    for (const e of this.nodes) if (!e[1].online && (!oldest || e[1].lastSeenAt < oldest[1].lastSeenAt)) oldest = e;
    if (oldest) this.nodes.delete(oldest[0]);
    return oldest !== undefined;
  }

  /** Take a birth's metric definitions into `into`, within the node's bound. */
  private define(n: NodeState, into: Metrics, metrics: readonly RawMetric[], out: Outcome): void {
    const { added, full } = defineMetrics(into, metrics, this.o.maxMetricsPerNode - n.defs);
    n.defs += added;
    if (full) {
      out.bounds.push('max-metrics');
      out.json.untracked = true;
    }
  }

  /**
   * A birth (NBIRTH, or DBIRTH of one of its devices) the connection dropped unread, too large:
   * the node asks no rebirth until an NBIRTH is taken (it would send the same birth, dropped again).
   * The node is offline: its aliases are not known. Returns false past maxNodes.
   */
  birthDropped(group: string, node: string, now: number): boolean {
    const out: Outcome = { json: {}, problems: [], unresolved: 0, bounds: [], rebirth: false, rebirthHeld: false };
    const n = this.node(group, node, now, out);
    if (!n) return false;
    n.birthDropped = true;
    n.needsRebirth = false;
    if (n.online) n.offlineAt = now;
    n.online = false;
    for (const d of n.devices.values()) d.online = false;
    return true;
  }

  /** For the status and the gauges: nodes and devices, online and offline. */
  counts(): { nodes: { online: number; offline: number }; devices: { online: number; offline: number } } {
    const c = { nodes: { online: 0, offline: 0 }, devices: { online: 0, offline: 0 } };
    for (const n of this.nodes.values()) {
      c.nodes[n.online ? 'online' : 'offline']++;
      for (const d of n.devices.values()) c.devices[n.online && d.online ? 'online' : 'offline']++;
    }
    return c;
  }

  /** One node's view, for tests and the status' lists. */
  nodeView(group: string, node: string): { online: boolean; bdSeq?: string; lastSeq?: number; devices: Record<string, boolean>; defs: number } | undefined {
    const n = this.nodes.get(key(group, node));
    if (!n) return undefined;
    return {
      online: n.online,
      ...(n.bdSeq !== undefined ? { bdSeq: n.bdSeq } : {}),
      ...(n.lastSeq !== undefined ? { lastSeq: n.lastSeq } : {}),
      devices: Object.fromEntries([...n.devices].map(([k, d]) => [k, n.online && d.online])),
      defs: n.defs,
    };
  }

  /** The nodes a command may mean (command-target.ts): the group's node, or each group's node of that name. */
  nodesNamed(group: string | undefined, node: string): NodeState[] {
    if (group !== undefined) {
      const n = this.nodes.get(key(group, node));
      return n ? [n] : [];
    }
    return [...this.nodes.values()].filter((n) => n.node === node);
  }

  /** Every node held (the names a refused command is told). */
  allNodes(): IterableIterator<NodeState> {
    return this.nodes.values();
  }

  /** The host lost its connection: what it missed meanwhile is unknown; births (or rebirths) restore it. */
  clear(): void {
    this.nodes.clear();
  }
}

/** The NBIRTH's or NDEATH's bdSeq metric (decimal string). */
function bdSeqOf(raw: RawPayload): string | undefined {
  const m = (raw.metrics ?? []).find((x) => x.name === 'bdSeq');
  if (!m) return undefined;
  return m.longValue ?? (m.intValue !== undefined ? String(m.intValue) : undefined);
}
