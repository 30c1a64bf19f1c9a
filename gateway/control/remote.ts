// Remote rule updates over MQTT.
//
//   <prefix>/<id>/rules/set       a rule set (JSON/YAML) or a signed envelope -> RuleHost
//   <prefix>/<id>/rules/rollback  swap back to the last good set
//   <prefix>/<id>/rules/status    retained: the result of the last update attempt (any source)
//
// The signature policy is applied by the RuleHost's verifier (origin 'remote'); the RuleHost
// serialises updates, so this class only bounds how many wait and reports the outcome.
import { EventEmitter } from 'node:events';
import { Counter } from 'prom-client';
import type { RuntimeDeps } from '../../core/deps.js';
import { errorMessage } from '../../core/errors.js';
import type { RuleSetTarget, RuleUpdateStatus } from './rule-set-target.js';
import type { ControlChannel } from './channel.js';
import type { ControlOptions } from './options.js';
import type { UpdateVerifier } from './verify.js';

export interface ControlTopics {
  set: string;
  rollback: string;
  status: string;
  heartbeat: string;
}

export function controlTopics(prefix: string, gatewayId: string): ControlTopics {
  const base = `${prefix}/${gatewayId}`;
  return { set: `${base}/rules/set`, rollback: `${base}/rules/rollback`, status: `${base}/rules/status`, heartbeat: `${base}/heartbeat` };
}

/** The retained status document. */
export interface ControlStatus {
  gatewayId: string;
  activeVersion: number | null;
  lastGoodVersion: number | null;
  state: RuleUpdateStatus['state'];
  version: number | null;
  source: string;
  errors: RuleUpdateStatus['errors'];
  /** When the active set was applied (ISO), null when none. */
  appliedAt: string | null;
  /** When this attempt happened (ISO). */
  at: string;
}

export interface RemoteControlDeps extends RuntimeDeps {
  gatewayId: string;
  rules: RuleSetTarget;
  channel: ControlChannel;
  verifier: UpdateVerifier;
}

type RemoteOptions = Pick<ControlOptions, 'prefix' | 'maxPayloadBytes' | 'maxPending'>;

function updatesCounter(deps: RuntimeDeps): Counter<'result'> {
  const name = 'gatehouse_control_updates_total';
  return (deps.registry.getSingleMetric(name) as Counter<'result'> | undefined) ??
    new Counter({ name, help: 'Rule set update attempts by result (applied, rejected, unchanged, rolled-back), any source', labelNames: ['result'], registers: [deps.registry] });
}

/** Emits 'status' (ControlStatus) for every update attempt it reports, whatever its source. */
export class RemoteControl extends EventEmitter {
  readonly topics: ControlTopics;
  private pending = 0;
  private started = false;
  private readonly updates: Counter<'result'>;
  private readonly onStatus = (s: RuleUpdateStatus): void => {
    this.updates.inc({ result: s.state });
    this.publishStatus(s);
  };

  constructor(private readonly opts: RemoteOptions, private readonly deps: RemoteControlDeps) {
    super();
    this.topics = controlTopics(opts.prefix, deps.gatewayId);
    this.updates = updatesCounter(deps);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { channel, rules } = this.deps;
    rules.on('status', this.onStatus);
    channel.subscribe(this.topics.set, (_t, payload) => this.receive('set', payload));
    channel.subscribe(this.topics.rollback, (_t, payload) => this.receive('rollback', payload));
    await channel.start();
    // Start-up status: the last attempt if this process saw one, else the active set as applied.
    const st = rules.status() as { lastUpdate?: { state: RuleUpdateStatus['state']; source: string } | null; activeVersion: number | null; source: string | null };
    this.publishStatus({ state: 'applied', version: st.activeVersion ?? undefined, source: st.source ?? 'start', at: Date.now(), errors: [] });
    this.deps.logger.info({ channel: channel.kind, topics: this.topics }, 'remote control listening');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.deps.rules.off('status', this.onStatus);
    await this.deps.channel.stop();
  }

  /** The status document for an update outcome. */
  statusDocument(s: RuleUpdateStatus): ControlStatus {
    const st = this.deps.rules.status() as { activeVersion: number | null; lastGoodVersion: number | null; appliedAt: string | null };
    return {
      gatewayId: this.deps.gatewayId,
      activeVersion: st.activeVersion,
      lastGoodVersion: st.lastGoodVersion,
      state: s.state,
      version: s.version ?? null,
      source: s.source,
      errors: s.errors,
      appliedAt: st.appliedAt,
      at: new Date(s.at).toISOString(),
    };
  }

  private publishStatus(s: RuleUpdateStatus): void {
    if (!this.started) return;
    const doc = this.statusDocument(s);
    this.emit('status', doc);
    const body = JSON.stringify(doc);
    this.deps.channel.publish(this.topics.status, body, { qos: 1, retain: true }).catch((err: unknown) => {
      this.deps.logger.warn({ err: errorMessage(err), topic: this.topics.status }, 'could not publish the rule status');
    });
  }

  /** A refusal decided here (before the RuleHost): reported like any other attempt. */
  private refuse(source: string, message: string): void {
    this.onStatus({ state: 'rejected', version: undefined, source, at: Date.now(), errors: [{ rule: '', where: '', message }] });
  }

  private receive(kind: 'set' | 'rollback', payload: Buffer): void {
    const source = kind === 'set' ? `mqtt:${this.deps.channel.kind}` : `mqtt rollback:${this.deps.channel.kind}`;
    if (payload.length > this.opts.maxPayloadBytes) {
      this.refuse(source, `GH_CONTROL_CHANNEL: control payload of ${payload.length} bytes exceeds control.maxPayloadBytes (${this.opts.maxPayloadBytes})`);
      return;
    }
    if (this.pending > this.opts.maxPending) {
      this.refuse(source, `GH_CONTROL_CHANNEL: ${this.pending} updates already waiting (control.maxPending ${this.opts.maxPending}); publish again later`);
      return;
    }
    this.pending++;
    const done = (): void => {
      this.pending--;
    };
    const run = kind === 'set' ? this.deps.rules.applyFromBytes(payload, undefined, source, false, 'remote') : this.rollback(payload, source);
    run.then(done, (err: unknown) => {
      done();
      this.deps.logger.error({ err: errorMessage(err) }, 'remote control update failed');
    });
  }

  private async rollback(payload: Buffer, source: string): Promise<void> {
    let bytes: Buffer;
    let signed: boolean;
    try {
      ({ bytes, signed } = this.deps.verifier.unwrap(payload, 'remote'));
    } catch (err) {
      this.refuse(source, errorMessage(err));
      return;
    }
    if (signed) {
      // A signed rollback names its gateway, so a command signed for one cannot be replayed on another.
      let cmd: { command?: unknown; gatewayId?: unknown } | undefined;
      try {
        cmd = JSON.parse(bytes.toString('utf8')) as typeof cmd;
      } catch {
        cmd = undefined;
      }
      if (cmd?.command !== 'rollback' || (cmd.gatewayId !== this.deps.gatewayId && cmd.gatewayId !== '*')) {
        this.refuse(source, `GH_RULESET_SIGNATURE: a signed rollback must be {"command":"rollback","gatewayId":"${this.deps.gatewayId}"} (gatehouse rules sign --rollback ${this.deps.gatewayId})`);
        return;
      }
    }
    await this.deps.rules.rollback(source);
  }
}
