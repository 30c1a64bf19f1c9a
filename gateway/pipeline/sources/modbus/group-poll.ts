// One poll of one Modbus poll group: its read requests in turn (a timeout retried, except for a
// device already failing), what each failure means (an exception response is a tag error, or
// splits the request to find the refused tag; a TCP gateway's 0x0A/0x0B or a timeout puts the
// device in backoff, and a timeout may drop a half-open TCP connection; a protocol error is a tag
// error and resynchronises), then the submit of the poll's values and the wait for their commit
// before the poll counts as read (report by exception marks values reported only then). Apart from
// poller.ts, which runs the loop (connect, reconnect, the schedule, the writes, pause, status):
// this module is what happens inside a poll the loop decided to run.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Intake } from '../../contract.js';
import { errorMessage } from '../../../../core/errors.js';
import type { RateLog } from '../../../../core/rate-log.js';
import { backoffMs, type IndustrialMetrics } from '../industrial-metrics.js';
import { type ModbusLink, ModbusRequestError, referenceNumberHint, type ReadResult } from './link.js';
import type { ModbusOptions } from './options.js';
import { splitRequest, type ReadRequest } from './planner.js';
import { probeRead, probeRefused, remergeReadable } from './remerge.js';
import {
  advanceSchedule,
  decodeTag,
  markReported,
  pollMessages,
  type DeviceErrorKind,
  type DeviceState,
  type GroupState,
  type ReadValue,
  type TagState,
} from './state.js';
import type { Outages } from './outage.js';
import { abortable } from '../../../../core/abortable.js';

const KIND = 'modbus';
/** Exception codes of a TCP gateway whose target device is unreachable (0x0A) or silent (0x0B). */
const GATEWAY_NO_ANSWER = new Set([10, 11]);

/** What a poll needs of its source (given once, at the source's construction). */
export interface GroupPollContext {
  name: string;
  opts: ModbusOptions;
  link: ModbusLink;
  devices: readonly DeviceState[];
  metrics: IndustrialMetrics;
  logger: Logger;
  /** Faults that repeat every poll: once a minute per request or group, with the count. */
  warnLog: RateLog;
  outages: Outages;
  /** Wall time: the values' timestamps and lastGoodRead. */
  now(): number;
  /** Monotonic time: the schedule and the device's backoff. */
  mono(): number;
  intake(): Intake | null;
  stopping(): boolean;
  /** Aborted by stop(): a poll awaiting its commit is abandoned. */
  stopSignal(): AbortSignal;
  /** Monotonic ms of the last (re)connect: polls due before it fell in the outage. */
  connectedAt(): number;
  /** The device answered (values or an exception response): the link works. */
  answered(): void;
  /** Report the connection lost and close it (a half-open connection). */
  dropLink(reason: string): Promise<void>;
}

/**
 * The requests a poll did not try, because the device stopped answering at `failed`: their tags
 * get an error too, so a group message names every tag either in `values` or in `errors` (the
 * tags of the requests after the first timeout had neither) and the device status lists them.
 */
function notRead(skipped: readonly ReadRequest<TagState>[], failed: ReadRequest<TagState>, error: string): void {
  for (const r of skipped) for (const t of r.tags) t.error = `not read: the poll stopped at ${failed.area} ${failed.address}+${failed.count}: ${error}`;
}

export class GroupPoll {
  constructor(private readonly ctx: GroupPollContext) {}

  async poll(g: GroupState): Promise<void> {
    const ctx = this.ctx;
    const d = g.device;
    // The polls due during an outage or the device's backoff were not missed for want of time
    // (they are the gap's and the backoff's): the schedule restarts here, no overruns counted.
    // Counted, a ten-minute outage of a 1 s group showed 600 overruns.
    g.nextDue = Math.max(g.nextDue, d.retryAt, ctx.connectedAt());
    const t0 = performance.now();
    const values: ReadValue[] = [];
    let answered = false;
    let deviceDown: string | undefined;
    let deviceDownKind: DeviceErrorKind | undefined;
    // The requests that read (a split request's parts: merged again once they all read, remerge.ts).
    const read = new Set<ReadRequest<TagState>>();
    for (let i = 0; i < g.requests.length && !ctx.stopping(); i++) {
      const req = g.requests[i] as ReadRequest<TagState>;
      try {
        const res = await this.readWithRetry(d, req);
        answered = true;
        ctx.answered();
        read.add(req);
        if (req.probe) probeRead(req);
        for (const t of req.tags) {
          t.error = undefined;
          values.push({ tag: t, value: decodeTag(t, req, res) });
        }
      } catch (err) {
        const raw = err instanceof ModbusRequestError ? err : new ModbusRequestError('protocol', errorMessage(err));
        // A lone tag refused at an address like 30001 or 40001 gets the fix with its error (a
        // merged request is split first, so the refused tag is read alone before it gets one).
        const hint = raw.exceptionCode === 2 && req.tags.length === 1 ? referenceNumberHint(req.area, req.address, req.count) : '';
        const e = hint ? new ModbusRequestError(raw.kind, raw.message + hint, raw.exceptionCode) : raw;
        const where = `device '${d.device.name}' (unit ${d.device.unitId}) ${req.area} ${req.address}+${req.count}`;
        const splits = e.kind === 'exception' && req.tags.length > 1 && (e.exceptionCode === 2 || e.exceptionCode === 3);
        // A merged request put back to try (remerge.ts) and refused again: ours, no fault of a tag.
        if (!(splits && req.probe)) this.countError(d, e.kind, `${where}: ${e.message}`);
        if (e.kind === 'exception' && GATEWAY_NO_ANSWER.has(e.exceptionCode as number)) {
          // A TCP gateway answering for a device behind it that did not (0x0B), or that it has no
          // path to (0x0A): the link works, the device is down. As a tag error it was polled every
          // interval (each poll waiting out the gateway's own serial timeout, the live units
          // behind it waiting too) and shown 'ok'; like a timeout it is backed off, 'failing'.
          ctx.answered();
          for (const t of req.tags) t.error = e.message;
          deviceDown = `${where}: ${e.message}`;
          deviceDownKind = e.kind;
          notRead(g.requests.slice(i + 1), req, e.message);
          break;
        }
        if (e.kind === 'exception') {
          answered = true;
          ctx.answered();
          if (splits) {
            // Find the tag the device refuses: from now on read these tags one by one (merged
            // again once they all read for a while: remerge.ts).
            if (req.probe) probeRefused(req);
            g.requests.splice(i, 1, ...splitRequest(req));
            i--;
            continue;
          }
          for (const t of req.tags) t.error = e.message;
          // A device that refuses a register refuses it on every poll: one line per request a minute, with the count.
          ctx.warnLog(
            `${d.device.name}\0${req.area}\0${req.address}`,
            { device: d.device.name, tags: req.tags.map((t) => t.tag.name), err: e.message },
            'modbus exception response',
          );
          continue;
        }
        for (const t of req.tags) t.error = e.message;
        if (e.kind === 'protocol' || e.kind === 'out-of-step') {
          // Garbage / CRC, or an answer out of step (the device answers): the next request
          // resynchronises. A tag failing every poll (a device that answers a read past its table
          // with a short frame) was only counted, never logged.
          ctx.warnLog(
            `protocol\0${d.device.name}\0${req.area}\0${req.address}`,
            { device: d.device.name, tags: req.tags.map((t) => t.tag.name), err: e.message },
            'modbus protocol error',
          );
          continue;
        }
        deviceDown = `${where}: ${e.message}`;
        deviceDownKind = e.kind;
        notRead(g.requests.slice(i + 1), req, e.message);
        if (e.kind === 'timeout' && ctx.link.describe().startsWith('tcp') && ctx.outages.presumeHalfOpen(ctx.devices.length))
          await ctx.dropLink('request timed out (half-open connection?)');
        break;
      }
    }
    if (deviceDown === undefined && !ctx.stopping()) remergeReadable(g.requests, read);
    if (deviceDown !== undefined && !answered) {
      d.failures++;
      d.failedBy = deviceDownKind;
      d.retryAt = ctx.mono() + backoffMs(d.failures - 1, ctx.opts.backoff.initialMs, ctx.opts.backoff.maxMs);
      // At most once a minute per device, with the count: a device that answers between its
      // failures (garbage or silence every few polls) starts a new run at each one, and logged a
      // line per failure (found by fuzzing).
      if (d.failures === 1 || d.failures % 10 === 0)
        ctx.warnLog(
          `down\0${d.device.name}`,
          { device: d.device.name, failures: d.failures, err: deviceDown },
          'modbus device not answering, retrying with backoff',
        );
    } else if (answered) {
      d.failures = 0;
      d.retryAt = 0;
    }
    if (values.length > 0 || ctx.opts.publish === 'group') await this.commit(g, values);
    g.lastPollMs = Math.round((performance.now() - t0) * 100) / 100;
    const group = `${d.device.name}/${g.group.name}`;
    ctx.metrics.pollSeconds.observe({ kind: KIND, source: ctx.name, group }, g.lastPollMs / 1000);
    const missed = advanceSchedule(g, ctx.mono());
    if (missed > 0) ctx.metrics.overruns.inc({ kind: KIND, source: ctx.name, group }, missed);
  }

  /**
   * A device already failing is probed once, without the retries: each retry of a dead unit holds
   * the line (on RTU two timeouts: the wait and the quiet after it) while the live units wait.
   */
  private async readWithRetry(d: DeviceState, req: ReadRequest<TagState>): Promise<ReadResult> {
    const retries = d.failures > 0 ? 0 : this.ctx.opts.retries;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ctx.link.read(d.device.unitId, req.area, req.address, req.count);
      } catch (err) {
        if (!(err instanceof ModbusRequestError) || err.kind !== 'timeout' || attempt >= retries || this.ctx.stopping()) throw err;
      }
    }
  }

  private countError(d: DeviceState, kind: DeviceErrorKind, message: string): void {
    d.errors[kind]++;
    d.lastError = message;
    d.lastErrorAt = this.ctx.now();
    this.ctx.metrics.readErrors.inc({ kind: KIND, source: this.ctx.name, device: d.device.name, error: kind });
  }

  /** Submit a poll's messages and wait for their commit (abandoned, never acknowledged, on stop()). */
  private async commit(g: GroupState, values: ReadValue[]): Promise<void> {
    const ctx = this.ctx;
    const d = g.device;
    const ts = ctx.now();
    const out = pollMessages(ctx.opts, g, values, ts);
    const pending: Promise<void>[] = [];
    const intake = ctx.intake();
    try {
      for (const m of out.messages) {
        // A submit that throws (intake closed) becomes a rejection, so every earlier promise is
        // still awaited (handled) below.
        let p: Promise<void> | undefined;
        try {
          p = intake?.submit(m);
        } catch (err) {
          p = Promise.reject(err);
        }
        if (p) pending.push(p);
      }
      if (pending.length > 0) await abortable(Promise.all(pending), ctx.stopSignal());
    } catch (err) {
      if (ctx.stopping()) return;
      this.countError(d, 'commit', `device '${d.device.name}' group '${g.group.name}': values not committed: ${errorMessage(err)}`);
      ctx.warnLog(
        `commit\0${d.device.name}\0${g.group.name}`,
        { device: d.device.name, group: g.group.name, err: errorMessage(err) },
        'modbus poll not committed; values are read again next poll',
      );
      return;
    }
    markReported(ctx.opts, g, out);
    if (values.length > 0) {
      d.lastGoodRead = ts;
      ctx.metrics.lastGoodRead.set({ kind: KIND, source: ctx.name, device: d.device.name }, ts / 1000);
    }
    d.rate.add(values.length);
    ctx.metrics.values.inc({ kind: KIND, source: ctx.name, device: d.device.name }, values.length);
  }
}
