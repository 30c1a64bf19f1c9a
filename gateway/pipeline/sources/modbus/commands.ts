// Downlink writes: messages on the source's command topic (local broker) become coil/register
// writes with the tag's type encoding, queued (bounded) for the poll loop, and answered on the
// reply topic with the device's response: {"id","device","tag","value","ok":true,"response":{...}}
// or {"ok":false,"error":...} ("code" too for a value the tag cannot hold exactly, which is refused,
// never rounded). Only tags marked `writable: true` can be written.
import type { SourceDeps } from '../kind.js';
import type { IndustrialMetrics } from '../industrial-metrics.js';
import { errorMessage, isGatehouseError } from '../../../../core/errors.js';
import { clocksOf } from '../../../../core/clock.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { replyTopicOf, subscribeCommands } from '../command-channel.js';
import { encodeCoil, encodeRegisters } from './codec.js';
import type { ModbusOptions } from './options.js';
import type { DeviceState } from './state.js';

const MAX_QUEUED = 100;

export interface PendingWrite {
  id: unknown;
  device: string;
  tag: string;
  value: unknown;
  unitId: number;
  area: 'coil' | 'holding';
  address: number;
  data: boolean | Buffer;
}

export class CommandQueue {
  private readonly queue: PendingWrite[] = [];
  private unsubscribe: (() => void) | null = null;
  private readonly replyTopic: string | undefined;
  private readonly outcome = { ok: 0, refused: 0, failed: 0 };
  /**
   * Writes not done are logged at most once a minute per outcome and tag, with the count: a client
   * flooding the command topic with bad writes made a log line each (the writer gets every reply).
   */
  private readonly notDoneLog: RateLog;

  constructor(
    private readonly opts: ModbusOptions,
    private readonly devices: DeviceState[],
    private readonly deps: SourceDeps,
    private readonly metrics: IndustrialMetrics,
    private readonly connected: () => boolean,
    private readonly notify: () => void,
  ) {
    this.notDoneLog = rateLimitedLog(deps.logger, 'warn', 60_000, clocksOf(deps).monotonic);
    this.replyTopic = opts.commands ? replyTopicOf(opts.commands) : undefined;
  }

  start(): void {
    const cmd = this.opts.commands;
    if (!cmd || this.unsubscribe) return;
    // Our own replies are no commands (command-channel.ts: the wildcard topic's loop).
    this.unsubscribe = subscribeCommands(this.deps, cmd, 'modbus', (payload) => this.onCommand(payload)) ?? null;
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const w of this.queue.splice(0)) this.reply(w, { ok: false, error: 'source stopped' });
  }

  /**
   * The connection was lost: the writes still queued are refused now, not sent after the
   * reconnect, minutes or hours later (no stale writes, as for a write that comes while disconnected).
   */
  refuseQueued(reason: string): void {
    for (const w of this.queue.splice(0))
      this.reply(w, { ok: false, error: `connection to the device lost before the write was sent (${reason}); not retried` });
  }

  next(): PendingWrite | undefined {
    return this.queue.shift();
  }

  counts(): Record<string, number> {
    return { ...this.outcome };
  }

  reply(w: Pick<PendingWrite, 'id' | 'device' | 'tag' | 'value'>, result: Record<string, unknown>): void {
    const outcome = result.ok === true ? 'ok' : 'data' in w ? 'failed' : 'refused';
    this.outcome[outcome]++;
    this.metrics.writes.inc({ kind: 'modbus', source: this.opts.name, outcome });
    if (result.ok !== true) {
      // Keyed by tag only for tags that exist: names from the payload would make the keys unbounded.
      const known = this.devices.some((d) => d.device.name === w.device && d.tags.has(w.tag));
      this.notDoneLog(known ? `${outcome}\0${w.device}\0${w.tag}` : outcome, { device: w.device, tag: w.tag, err: result.error }, 'modbus write not done');
    }
    if (this.replyTopic && this.deps.publish) {
      this.deps.publish(this.replyTopic, Buffer.from(JSON.stringify({ id: w.id ?? null, device: w.device, tag: w.tag, value: w.value, ...result })));
    }
  }

  /** Which of device and tag is unknown, and the names to write instead (a typo in a command is the likeliest cause). */
  private unknownTarget(device: string, tag: string, dev: (typeof this.devices)[number] | undefined): string {
    if (!dev) return `unknown device '${device}': the devices of this source are ${this.devices.map((d) => `'${d.device.name}'`).join(', ') || 'none'}`;
    const writable = [...dev.tags.values()].filter((t) => t.tag.writable).map((t) => `'${t.tag.name}'`);
    return `device '${dev.device.name}' has no tag '${tag}': its writable tags are ${writable.join(', ') || 'none (set writable: true on a coil or holding tag)'}`;
  }

  private onCommand(payload: Buffer): void {
    let cmd: { id?: unknown; device?: unknown; tag?: unknown; value?: unknown };
    try {
      cmd = JSON.parse(payload.toString('utf8')) as typeof cmd;
    } catch {
      this.reply({ id: null, device: '', tag: '', value: null }, { ok: false, error: 'command is not JSON: expected {"device","tag","value","id"}' });
      return;
    }
    const base = { id: cmd.id, device: String(cmd.device ?? ''), tag: String(cmd.tag ?? ''), value: cmd.value };
    const dev = this.devices.find((d) => d.device.name === cmd.device);
    const tag = dev?.tags.get(base.tag)?.tag;
    if (!dev || !tag) return this.reply(base, { ok: false, error: this.unknownTarget(base.device, base.tag, dev) });
    if (!tag.writable || (tag.area !== 'coil' && tag.area !== 'holding'))
      return this.reply(base, {
        ok: false,
        error: `tag '${tag.name}' of device '${dev.device.name}' is not writable (set writable: true on a coil or holding tag)`,
      });
    if (!this.connected()) return this.reply(base, { ok: false, error: 'not connected to the device (retrying); write refused' });
    if (this.queue.length >= MAX_QUEUED) return this.reply(base, { ok: false, error: `too many writes queued (${MAX_QUEUED})` });
    let data: boolean | Buffer;
    const point = `device '${dev.device.name}' tag '${tag.name}'`;
    try {
      data = tag.area === 'coil' ? encodeCoil(cmd.value, point) : encodeRegisters(cmd.value, tag.type, tag.order, tag, tag.length, point);
    } catch (err) {
      // A value the tag cannot hold exactly (GH_WRITE_VALUE_INVALID): refused, never rounded.
      return this.reply(base, { ok: false, error: errorMessage(err), ...(isGatehouseError(err) ? { code: err.code } : {}) });
    }
    this.queue.push({ ...base, unitId: dev.device.unitId, area: tag.area, address: tag.address, data });
    this.notify();
  }
}
