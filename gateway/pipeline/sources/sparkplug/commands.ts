// Downlink writes of the sparkplug source: a JSON command on `commands.topic` (the local broker:
// an MQTT client, a cloud command through the mqtt source, a rule's republish) becomes an NCMD
// (edge node metrics) or DCMD (device metrics) published on the source's own connection, and the
// outcome is published on the reply topic, as the Modbus and OPC UA sources do.
//
//   {"node":"edge7","device":"press3","metrics":{"Setpoint":42.5,"Mode":"auto"},"id":"c1"}
//   {"node":"edge7","metric":"Node Control/Reboot","value":true}      (one metric, the short form)
//
// Each metric goes by the alias its birth gave it, the name left out (by name when it has none:
// Sparkplug 3.0 tck-id-payloads-alias-data-cmd-requirement), with the birth's datatype and its
// value in the field that datatype travels in (write-value.ts), the payload and each metric
// stamped with the time (tck-id-topics-ncmd-timestamp); QoS 0, not retained
// (tck-id-topics-ncmd-mqtt), no seq. The datatype field is sent too, which a command SHOULD NOT
// carry (tck-id-payloads-metric-datatype-not-req): a decoder that reads a value by the metric's own
// datatype (a negative Int32 is a uint32 on the wire) needs it, and a command is one small message.
//
// Everything is checked before anything is sent, and a command is sent whole or not at all:
// refused (`"ok":false`, a `code`, an `error` saying what and how to fix) when malformed
// (GH_WRITE_COMMAND_INVALID), when its node, device or a metric is unknown or offline
// (GH_WRITE_TARGET_UNKNOWN, command-target.ts), when a value does not fit its datatype exactly
// (GH_WRITE_VALUE_INVALID), and while the source is not connected or MAX_WAITING commands wait for
// the socket (GH_WRITE_NOT_SENT): never queued to be sent later. `"ok":true` means published to
// the broker: Sparkplug has no acknowledgement of a write; the new value comes back in the node's
// next NDATA or DDATA (docs/sparkplug.md, Writes).
import type { Counter } from 'prom-client';
import { clocksOf } from '../../../../core/clock.js';
import { closestName } from '../../../../core/closest-name.js';
import { ERRORS, errorMessage, isGatehouseError } from '../../../../core/errors.js';
import { rateLimitedLog, type RateLog } from '../../../../core/rate-log.js';
import { replyTopicOf, subscribeCommands, type CommandsOptions } from '../command-channel.js';
import type { SourceDeps } from '../kind.js';
import { commandTarget, type TargetLookup } from './command-target.js';
import { encodePayload } from './schema.js';
import { NAMESPACE } from './topic.js';
import { commandValue } from './write-value.js';

/** Commands published and waiting for the socket before more are refused. */
export const MAX_WAITING = 100;

const SHAPE = '{"node","device","metrics":{"<name>":<value>,...},"id"} or {"node","device","metric","value","id"}';
const FIELDS = ['id', 'group', 'node', 'device', 'metrics', 'metric', 'value'];

/** The source's connection, as the commands see it. */
export interface CommandConnection {
  /** Connected now: a command that comes while not is refused, never sent later. */
  connected(): boolean;
  /** The broker (no credentials), for messages. */
  readonly target: string;
  publish(topic: string, payload: Buffer): Promise<void>;
}

type Outcome = 'ok' | 'refused' | 'failed';

interface Command {
  group: string | undefined;
  node: string;
  device: string | undefined;
  values: Array<[name: string, value: unknown]>;
}

export class SparkplugCommands {
  private unsubscribe: (() => void) | undefined;
  private readonly replyTopic: string | undefined;
  private waiting = 0;
  private readonly outcome: Record<Outcome, number> = { ok: 0, refused: 0, failed: 0 };
  /** Writes not done: at most one line a minute per outcome and code, with the count (the writer gets every reply). */
  private readonly notDoneLog: RateLog;
  private readonly now: () => number;

  constructor(
    private readonly source: string,
    private readonly commands: CommandsOptions | undefined,
    private readonly deps: SourceDeps,
    private readonly state: TargetLookup,
    private readonly conn: CommandConnection,
    private readonly writes: Counter<'kind' | 'source' | 'outcome'>,
  ) {
    const clocks = clocksOf(deps);
    this.now = clocks.now;
    this.notDoneLog = rateLimitedLog(deps.logger, 'warn', 60_000, clocks.monotonic);
    this.replyTopic = commands ? replyTopicOf(commands) : undefined;
  }

  start(): void {
    if (!this.commands || this.unsubscribe) return;
    this.unsubscribe = subscribeCommands(this.deps, this.commands, 'sparkplug', (payload) => this.onCommand(payload));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  counts(): Record<Outcome, number> {
    return { ...this.outcome };
  }

  /** One command: checked, published, answered; never throws. */
  onCommand(payload: Buffer): void {
    let echo: Record<string, unknown> = { id: null };
    let cmd: Command;
    try {
      const j = parse(payload);
      echo = echoOf(j);
      cmd = commandOf(j);
    } catch (err) {
      return this.reply(echo, 'refused', err);
    }
    try {
      if (!this.conn.connected())
        throw ERRORS.GH_WRITE_NOT_SENT(
          { reason: `the source is not connected to ${this.conn.target} (reconnecting)` },
          { hint: 'send it again once the source is connected (gatehouse sources); it is not kept to be sent later' },
        );
      const t = commandTarget(this.state, { ...cmd, names: cmd.values.map(([name]) => name) });
      const where = `${t.device !== undefined ? `device '${t.device}' of ` : ''}edge node '${t.group}/${t.node}'`;
      const now = this.now();
      const metrics = t.metrics.map((def, i) => ({
        ...(def.alias !== undefined ? { alias: def.alias } : { name: def.name }),
        timestamp: now,
        datatype: def.datatype,
        ...commandValue(cmd.values[i]![1], def.datatype, `metric '${def.name}' of ${where}`),
      }));
      if (this.waiting >= MAX_WAITING)
        throw ERRORS.GH_WRITE_NOT_SENT(
          { reason: `${MAX_WAITING} commands are waiting to be sent (the connection to ${this.conn.target} is slow)` },
          { hint: 'send commands slower, or check the broker' },
        );
      const topic = `${NAMESPACE}/${t.group}/${t.device === undefined ? 'NCMD' : 'DCMD'}/${t.node}${t.device === undefined ? '' : `/${t.device}`}`;
      const bytes = encodePayload({ timestamp: now, metrics });
      this.waiting++;
      const done = { id: echo.id, group: t.group, ...echo, topic, timestamp: now };
      this.conn.publish(topic, bytes).then(
        () => {
          this.waiting--;
          this.reply(done, 'ok');
        },
        (err: unknown) => {
          this.waiting--;
          this.reply(done, 'failed', ERRORS.GH_WRITE_NOT_SENT({ reason: `publishing ${topic} failed: ${errorMessage(err)}` }, { hint: 'send it again' }));
        },
      );
    } catch (err) {
      this.reply(echo, 'refused', err);
    }
  }

  private reply(echo: Record<string, unknown>, outcome: Outcome, err?: unknown): void {
    this.outcome[outcome]++;
    this.writes.inc({ kind: 'sparkplug', source: this.source, outcome });
    const result: Record<string, unknown> = { ...echo, ok: outcome === 'ok' };
    if (err !== undefined) {
      const code = isGatehouseError(err) ? err.code : undefined;
      if (code) result.code = code;
      result.error = errorMessage(err);
      this.notDoneLog(
        `${outcome}\0${code ?? ''}`,
        { node: echo.node, device: echo.device, code, err: result.error },
        `sparkplug command not ${outcome === 'failed' ? 'sent' : 'taken'}`,
      );
    }
    if (this.replyTopic && this.deps.publish) this.deps.publish(this.replyTopic, Buffer.from(JSON.stringify(result)));
  }
}

function invalid(reason: string): Error {
  return ERRORS.GH_WRITE_COMMAND_INVALID({ reason }, { hint: `send ${SHAPE}` });
}

function parse(payload: Buffer): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalid('not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw invalid('not a JSON object');
  return j as Record<string, unknown>;
}

/** What the reply repeats of the command: its id, target and values as given. */
function echoOf(j: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { id: j.id ?? null };
  for (const k of ['group', 'node', 'device', 'metrics', 'metric', 'value']) if (j[k] !== undefined) out[k] = j[k];
  return out;
}

function commandOf(j: Record<string, unknown>): Command {
  for (const k of Object.keys(j)) {
    if (!FIELDS.includes(k)) {
      const near = closestName(k, FIELDS);
      throw invalid(`unknown field "${k}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
  }
  if (typeof j.node !== 'string' || j.node === '') throw invalid('"node" (the edge node id) is missing or not a string');
  for (const k of ['group', 'device'] as const) if (j[k] !== undefined && (typeof j[k] !== 'string' || j[k] === '')) throw invalid(`"${k}" is not a string`);
  let values: Array<[string, unknown]>;
  if (j.metrics !== undefined) {
    if (j.metric !== undefined || j.value !== undefined) throw invalid('give either "metrics" or "metric" and "value", not both');
    if (typeof j.metrics !== 'object' || j.metrics === null || Array.isArray(j.metrics))
      throw invalid('"metrics" is an object of metric names and values, e.g. {"Setpoint": 42}');
    values = Object.entries(j.metrics);
    if (values.length === 0) throw invalid('"metrics" names no metric');
  } else {
    if (typeof j.metric !== 'string' || j.metric === '') throw invalid('no "metrics", and no "metric" (a metric name) with its "value"');
    if (j.value === undefined) throw invalid(`"metric" '${j.metric}' has no "value"`);
    values = [[j.metric, j.value]];
  }
  return { group: j.group as string | undefined, node: j.node, device: j.device as string | undefined, values };
}
