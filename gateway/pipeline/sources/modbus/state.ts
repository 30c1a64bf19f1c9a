// Run-time state of a Modbus source's devices, poll groups and tags (what status() reports), and
// the messages a poll produces (topic template, per-tag or per-group payloads, report by exception).
import type { Message } from '../../../../core/message.js';
import { RateMeter } from '../industrial-metrics.js';
import { topicRenderer } from '../topic-template.js';
import { changed, decodeRegisters, type TagValue } from './codec.js';
import type { ErrorKind, ReadResult } from './link.js';
import { tagSize, type ModbusDevice, type ModbusGroup, type ModbusOptions, type ModbusTag } from './options.js';
import { planReads, type PlannedTag, type ReadRequest } from './planner.js';

export type DeviceErrorKind = ErrorKind | 'commit';

export interface TagState extends PlannedTag {
  tag: ModbusTag;
  /** Last value committed (report by exception compares against it). */
  reported: TagValue | undefined;
  error: string | undefined;
  /** The error the last committed group message carried for this tag (report by exception, group mode). */
  reportedError: string | undefined;
}

export interface GroupState {
  group: ModbusGroup;
  device: DeviceState;
  requests: ReadRequest<TagState>[];
  /** Monotonic ms (RuntimeDeps.monotonic) the next poll is due. */
  nextDue: number;
  lastPollMs: number | undefined;
  overruns: number;
}

export interface DeviceState {
  device: ModbusDevice;
  groups: GroupState[];
  tags: Map<string, TagState>;
  /** Consecutive failed polls (no answer): drives the device's retry backoff. */
  failures: number;
  /** What the last failed poll failed with (a reconnect ends the backoff of 'connection' failures only). */
  failedBy: DeviceErrorKind | undefined;
  /** Monotonic ms before which the device is not polled again (backoff); 0: none. */
  retryAt: number;
  /** Wall time (epoch ms) of the last committed read (status, metric). */
  lastGoodRead: number | undefined;
  lastError: string | undefined;
  /** Wall time (epoch ms) of lastError. */
  lastErrorAt: number | undefined;
  errors: Record<DeviceErrorKind, number>;
  rate: RateMeter;
}

/** `mono`: the monotonic clock (schedule, rates). */
export function buildDevices(opts: ModbusOptions, mono: () => number): DeviceState[] {
  return opts.devices.map((device) => {
    const state: DeviceState = {
      device,
      groups: [],
      tags: new Map(),
      failures: 0,
      failedBy: undefined,
      retryAt: 0,
      lastGoodRead: undefined,
      lastError: undefined,
      lastErrorAt: undefined,
      errors: { timeout: 0, exception: 0, connection: 0, protocol: 0, 'out-of-step': 0, commit: 0 },
      rate: new RateMeter(mono),
    };
    for (const group of device.groups) {
      const tags = group.tags.map(
        (tag): TagState => ({ tag, area: tag.area, address: tag.address, size: tagSize(tag), reported: undefined, error: undefined, reportedError: undefined }),
      );
      for (const t of tags) state.tags.set(t.tag.name, t);
      state.groups.push({ group, device: state, requests: planReads(tags, opts.mergeGap), nextDue: mono(), lastPollMs: undefined, overruns: 0 });
    }
    return state;
  });
}

export function renderTopic(template: string, vars: Record<string, string | number>): string {
  return topicRenderer(template)(vars);
}

export interface ReadValue {
  tag: TagState;
  value: TagValue;
}

export interface PollOutput {
  messages: Message[];
  /** Tag values the messages carry (marked reported once the messages are committed). */
  reported: ReadValue[];
}

/** Messages of one poll of a group, honouring the report mode and the publish mode. */
export function pollMessages(opts: ModbusOptions, g: GroupState, values: ReadValue[], ts: number): PollOutput {
  const dev = g.device.device;
  // A tag whose error the consumer was last told of is due again once it reads (its error ended).
  const due =
    g.group.report === 'poll'
      ? values
      : values.filter((v) => v.tag.reportedError !== undefined || changed(v.tag.reported, v.value, v.tag.tag.deadband ?? g.group.deadband));
  const base = { source: opts.name, device: dev.name, unitId: dev.unitId, group: g.group.name };
  const source = { kind: 'modbus' as const, id: `${opts.name}/${dev.name}` };
  const messages: Message[] = [];
  if (opts.publish === 'tag') {
    for (const v of due) {
      const payload = Buffer.from(JSON.stringify({ device: dev.name, tag: v.tag.tag.name, value: v.value, ts }));
      messages.push({ topic: renderTopic(opts.topic, { ...base, tag: v.tag.tag.name }), payload, qos: 1, source, receivedAt: ts });
    }
  } else {
    const errors: Record<string, string> = {};
    let errorsChanged = false;
    for (const t of g.group.tags) {
      const st = g.device.tags.get(t.name);
      if (st?.error) errors[t.name] = st.error;
      if (st && st.error !== st.reportedError) errorsChanged = true;
    }
    // Report by exception: an error the device repeats every poll is news once (when it starts or
    // ends), not a message every poll (a tag refused for good made a group of 20 ms send 50 a second).
    if (due.length > 0 || (g.group.report === 'poll' ? Object.keys(errors).length > 0 : errorsChanged)) {
      const body: Record<string, unknown> = {
        device: dev.name,
        group: g.group.name,
        ts,
        values: Object.fromEntries(due.map((v) => [v.tag.tag.name, v.value])),
      };
      if (Object.keys(errors).length > 0) body.errors = errors;
      messages.push({ topic: renderTopic(opts.topic, base), payload: Buffer.from(JSON.stringify(body)), qos: 1, source, receivedAt: ts });
    }
  }
  return { messages, reported: due };
}

/** The messages of `out` are committed: report by exception compares with what they carried from now on. */
export function markReported(opts: ModbusOptions, g: GroupState, out: PollOutput): void {
  for (const v of out.reported) v.tag.reported = v.value;
  if (opts.publish !== 'group' || out.messages.length === 0) return;
  for (const t of g.group.tags) {
    const st = g.device.tags.get(t.name);
    if (st) st.reportedError = st.error;
  }
}

export function deviceStatus(d: DeviceState): Record<string, unknown> {
  const tagErrors: Record<string, string> = {};
  for (const [name, t] of d.tags) if (t.error) tagErrors[name] = t.error;
  return {
    name: d.device.name,
    unitId: d.device.unitId,
    state: d.failures > 0 ? 'failing' : d.lastGoodRead === undefined ? 'waiting' : 'ok',
    lastGoodRead: d.lastGoodRead === undefined ? null : new Date(d.lastGoodRead).toISOString(),
    lastError: d.lastError ?? null,
    lastErrorAt: d.lastErrorAt === undefined ? null : new Date(d.lastErrorAt).toISOString(),
    readErrors: { ...d.errors },
    valuesPerSecond: d.rate.perSecond(),
    groups: d.groups.map((g) => ({
      name: g.group.name,
      intervalMs: g.group.intervalMs,
      requests: g.requests.length,
      pollLatencyMs: g.lastPollMs ?? null,
      overruns: g.overruns,
    })),
    tagErrors,
  };
}

/** The value of tag `t` in the answer `res` to the request `req` that read it. */
export function decodeTag(t: TagState, req: ReadRequest<TagState>, res: ReadResult): ReadValue['value'] {
  const offset = t.address - req.address;
  if ('bits' in res) return res.bits[offset] === true;
  const wire = res.registers.subarray(offset * 2, (offset + t.size) * 2);
  return decodeRegisters(wire, t.tag.type, t.tag.order, t.tag);
}

/** The group due first (its interval, or its device's retry backoff, whichever is later). */
export function nextDueGroup(devices: readonly DeviceState[]): GroupState | undefined {
  let best: GroupState | undefined;
  let bestAt = Infinity;
  for (const d of devices) {
    for (const g of d.groups) {
      const at = Math.max(g.nextDue, d.retryAt);
      if (at < bestAt) {
        best = g;
        bestAt = at;
      }
    }
  }
  return best;
}

/** After a poll at monotonic `now`: the next due time; polls the group had no time for are skipped and counted as overruns. */
export function advanceSchedule(g: GroupState, now: number): number {
  g.nextDue += g.group.intervalMs;
  if (g.nextDue > now) return 0;
  const missed = Math.ceil((now - g.nextDue) / g.group.intervalMs);
  g.overruns += missed;
  g.nextDue += missed * g.group.intervalMs;
  if (g.nextDue <= now) g.nextDue += g.group.intervalMs;
  return missed;
}
