// Downlink writes for OPC UA: {"tag","value","id"} on the command topic writes the tag's node
// (items marked writable only), with the node's own data type (read once, then cached), and the
// server's status code is published on the reply topic. A value the data type cannot hold exactly
// is refused (write-value.ts), never written changed.
import type { SourceDeps } from '../kind.js';
import type { IndustrialMetrics } from '../industrial-metrics.js';
import type { OpcuaModule, OpcuaSession } from './connect.js';
import type { OpcuaItem, OpcuaOptions } from './options.js';
import { errorMessage, isGatehouseError } from '../../../../core/errors.js';
import { replyTopicOf, subscribeCommands } from '../command-channel.js';
import { writeValue } from './write-value.js';

const MAX_IN_FLIGHT = 50;

export class OpcuaCommands {
  private unsubscribe: (() => void) | null = null;
  private readonly replyTopic: string | undefined;
  private readonly items = new Map<string, OpcuaItem>();
  private readonly dataTypes = new Map<string, number>();
  private inFlight = 0;
  private readonly outcome = { ok: 0, refused: 0, failed: 0 };

  constructor(
    private readonly opts: OpcuaOptions,
    private readonly ua: OpcuaModule,
    private readonly deps: SourceDeps,
    private readonly metrics: IndustrialMetrics,
    private readonly session: () => OpcuaSession | undefined,
  ) {
    this.replyTopic = opts.commands ? replyTopicOf(opts.commands) : undefined;
    for (const s of opts.subscriptions) for (const i of s.items) this.items.set(i.name, i);
  }

  start(): void {
    if (!this.opts.commands || this.unsubscribe) return;
    // Our own replies are no commands (command-channel.ts: the wildcard topic's loop).
    this.unsubscribe = subscribeCommands(this.deps, this.opts.commands, 'opcua', (payload) => void this.onCommand(payload)) ?? null;
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  counts(): Record<string, number> {
    return { ...this.outcome };
  }

  private reply(base: { id: unknown; tag: string; value: unknown }, outcome: 'ok' | 'refused' | 'failed', result: Record<string, unknown>): void {
    this.outcome[outcome]++;
    this.metrics.writes.inc({ kind: 'opcua', source: this.opts.name, outcome });
    if (this.replyTopic && this.deps.publish)
      this.deps.publish(
        this.replyTopic,
        Buffer.from(JSON.stringify({ id: base.id ?? null, tag: base.tag, value: base.value, ok: outcome === 'ok', ...result })),
      );
  }

  private async onCommand(payload: Buffer): Promise<void> {
    let cmd: { id?: unknown; tag?: unknown; value?: unknown };
    try {
      cmd = JSON.parse(payload.toString('utf8')) as typeof cmd;
    } catch {
      return this.reply({ id: null, tag: '', value: null }, 'refused', { error: 'command is not JSON: expected {"tag","value","id"}' });
    }
    const base = { id: cmd.id, tag: String(cmd.tag ?? ''), value: cmd.value };
    const item = this.items.get(base.tag);
    if (!item?.writable) {
      // A typo in the tag was told to set writable: true on an item it does not have.
      const writable = [...this.items.values()].filter((i) => i.writable).map((i) => `'${i.name}'`);
      const names = `; its writable items are ${writable.join(', ') || 'none'}`;
      return this.reply(base, 'refused', {
        error: item
          ? `tag '${base.tag}' is not a writable item of source '${this.opts.name}' (set writable: true on it)${names}`
          : `source '${this.opts.name}' has no item named '${base.tag}'${names}`,
      });
    }
    const session = this.session();
    if (!session) return this.reply(base, 'refused', { error: 'no OPC UA session (reconnecting); write refused' });
    if (this.inFlight >= MAX_IN_FLIGHT) return this.reply(base, 'refused', { error: `too many writes in flight (${MAX_IN_FLIGHT})` });
    this.inFlight++;
    try {
      const ua = this.ua;
      let dataType = this.dataTypes.get(item.nodeId);
      if (dataType === undefined) {
        const dv = await session.read({ nodeId: item.nodeId, attributeId: ua.AttributeIds.DataType });
        const id = (dv.value?.value as { value?: unknown } | undefined)?.value;
        if (dv.statusCode.isNotGood() || typeof id !== 'number' || id < 1 || id > 25)
          throw new Error(`cannot write node ${item.nodeId}: its data type is not a built-in scalar (${dv.statusCode.name})`);
        dataType = id;
        this.dataTypes.set(item.nodeId, dataType);
      }
      const value = writeValue(base.value, dataType, `tag '${item.name}' (node ${item.nodeId}`);
      const status = await session.write({
        nodeId: item.nodeId,
        attributeId: ua.AttributeIds.Value,
        value: { value: new ua.Variant({ dataType, value }) },
      });
      this.reply(base, status.isGood() ? 'ok' : 'failed', { statusCode: status.name });
    } catch (err) {
      if (isGatehouseError(err, 'GH_WRITE_VALUE_INVALID')) this.reply(base, 'refused', { error: errorMessage(err), code: err.code });
      else this.reply(base, 'failed', { error: (err as Error).message });
    } finally {
      this.inFlight--;
    }
  }
}
