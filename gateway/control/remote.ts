// Remote rule updates over MQTT.
//
//   <prefix>/<id>/rules/set       a rule set (JSON/YAML) or a signed envelope -> RuleHost
//   <prefix>/<id>/rules/rollback  swap back to the last good set
//   <prefix>/<id>/rules/status    retained: the result of the last update attempt (any source; a job toggle only when it changed the set)
//
// The signature policy is applied by the verifier (origin 'remote'). A signed payload must be an
// update document (document.ts): bound to this gateway (targets), to a version above the highest
// ever accepted (accepted.ts, persisted) and to an expiry; replays are refused with
// GH_CONTROL_REPLAY. Updates are handled one at a time here (check, then apply the set and record
// the version in one store write), at most maxPending wait (beyond, the oldest waiting gives way: the newest win); every refusal is a
// `rejected` status, a log line and a counter. An applied update goes on probation (probation.ts):
// rolled back by the gateway itself if its new or changed rules fail at run time. The status
// document: status-document.ts; what is read of a payload before it is verified: payload-peek.ts.
import { EventEmitter } from 'node:events';
import type { Counter } from 'prom-client';
import type { RuntimeDeps } from '../../core/deps.js';
import { ERRORS, GatehouseError, errorMessage, type ErrorCode } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
import { clocksOf } from '../../core/clock.js';
import type { RuleSetTarget, RuleUpdateStatus } from './rule-set-target.js';
import type { LocalStreams } from '../store/types.js';
import { AcceptedVersion } from './accepted.js';
import type { ControlChannel, PublishRefusal } from './channel.js';
import { DocumentRefused, checkBinding, parseUpdateDocument, type RefusalReason, type UpdateDocument } from './document.js';
import type { ControlOptions } from './options.js';
import type { ProbationInfo } from './probation.js';
import type { UpdateVerifier } from './verify.js';
import { lastUpdateOf, statusDocument, type ControlStatus } from './status-document.js';
import { claimedVersion, looksLikeDocument } from './payload-peek.js';

export type { ControlStatus };

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

export interface RemoteControlDeps extends RuntimeDeps {
  gatewayId: string;
  /** The installation id once known (the status document carries it). */
  installationId?: () => string | undefined;
  rules: RuleSetTarget;
  channel: ControlChannel;
  verifier: UpdateVerifier;
  /** Where the accepted version is persisted. */
  meta: Pick<LocalStreams, 'getMeta' | 'putMeta'>;
  /** Publishes the local broker refused before delivery (too large, not allowed); local channel only. */
  onPublishRefused?: (listener: (r: PublishRefusal) => void) => () => void;
  /** The probation monitor (probation.ts), for the status document. */
  probation?: { current(): ProbationInfo | undefined };
}

type RemoteOptions = Pick<ControlOptions, 'prefix' | 'maxPayloadBytes' | 'maxPending' | 'groups' | 'probation'>;
type Refusal = RefusalReason | 'signature' | 'unauthorized';

function refusedCounter(deps: RuntimeDeps): Counter<'reason'> {
  const help = 'Remote control messages refused before applying, by reason (malformed, target, expired, replay, too-large, busy, signature, unauthorized)';
  return counter(deps.registry, 'gatehouse_control_refused_total', help, ['reason']);
}

function updatesCounter(deps: RuntimeDeps): Counter<'result'> {
  const help = 'Rule set update attempts by result (applied, rejected, unchanged, rolled-back, confirmed), any source';
  return counter(deps.registry, 'gatehouse_control_updates_total', help, ['result']);
}

interface Waiting {
  kind: 'set' | 'rollback';
  payload: Buffer;
  source: string;
  retained: boolean;
}

/** The least time between two lines of one kind that repeats per control message (with the count since). */
const LOG_EVERY_MS = 60_000;

/** Emits 'status' (ControlStatus) for every update attempt it reports, whatever its source. */
export class RemoteControl extends EventEmitter {
  readonly topics: ControlTopics;
  /** Updates received and not yet started (at most maxPending), oldest first. */
  private readonly waiting: Waiting[] = [];
  private started = false;
  private readonly updates: Counter<'result'>;
  private readonly refused: Counter<'reason'>;
  private readonly accepted: AcceptedVersion;
  /** Lines that repeat per control message: at most one a minute per kind, with `suppressed` (core/rate-log.ts). */
  private readonly refusedLog: RateLog;
  private readonly statusLog: RateLog;
  private readonly failedLog: RateLog;
  private readonly retainedLog: RateLog;
  /** One remote update at a time: check, apply, record the accepted version. */
  private chain: Promise<void> = Promise.resolve();
  private unsubscribeRefusals: (() => void) | undefined;
  /** The status document published last: published again after a reconnect to the control broker. */
  private lastStatus: string | undefined;
  private readonly onStatus = (s: RuleUpdateStatus): void => {
    this.updates.inc({ result: s.state });
    if (s.state === 'rejected' && s.source.startsWith('mqtt')) {
      // One line a minute per refusal code, with the count since: whoever may publish on the
      // control topics (any local client when control.publishers is not set) refused 60 updates,
      // 60 warnings; each refusal still has its status document and its count in the metrics.
      this.refusedLog(
        s.code ?? 'refused',
        { source: s.source, version: s.version, code: s.code, errors: s.errors.map((e) => e.message) },
        'remote rule update refused',
      );
    }
    this.publishStatus(s);
  };

  constructor(
    private readonly opts: RemoteOptions,
    private readonly deps: RemoteControlDeps,
  ) {
    super();
    this.topics = controlTopics(opts.prefix, deps.gatewayId);
    this.updates = updatesCounter(deps);
    this.refused = refusedCounter(deps);
    this.accepted = new AcceptedVersion(deps.meta);
    const monotonic = clocksOf(deps).monotonic;
    this.refusedLog = rateLimitedLog(deps.logger, 'warn', LOG_EVERY_MS, monotonic);
    this.statusLog = rateLimitedLog(deps.logger, 'warn', LOG_EVERY_MS, monotonic);
    this.failedLog = rateLimitedLog(deps.logger, 'error', LOG_EVERY_MS, monotonic);
    this.retainedLog = rateLimitedLog(deps.logger, 'info', LOG_EVERY_MS, monotonic);
  }

  /** Highest update document version accepted so far. */
  acceptedVersion(): number {
    return this.accepted.version;
  }

  /** Listen for updates on the channel. A stop() while it runs wins: it then resolves without listening. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { channel, rules } = this.deps;
    await this.accepted.load(rules.activeDefinition()?.version ?? -1);
    // Stopped while the accepted version loaded: the stop had nothing to undo yet. Went on, the
    // start left its subscriptions to the control topics and its listener on the rules behind,
    // and handled updates after the stop.
    if (!this.started) return;
    // An outcome reported before this listener (the probation monitor confirms or rolls back at
    // start, while the accepted version is read) was neither counted nor published: the start-up
    // status below is then that outcome, counted there.
    const unheard = lastUpdateOf(rules);
    rules.on('status', this.onStatus);
    this.unsubscribeRefusals = this.deps.onPublishRefused?.((r) => this.brokerRefused(r));
    channel.subscribe(this.topics.set, (_t, payload, retained) => this.receive('set', payload, retained === true));
    channel.subscribe(this.topics.rollback, (_t, payload, retained) => this.receive('rollback', payload, retained === true));
    // The office always sees the current state, also from a broker that lost the retained status.
    channel.onReconnect(() => {
      if (this.started && this.lastStatus !== undefined) this.sendStatus(this.lastStatus);
    });
    await channel.start();
    if (!this.started) return; // stopped while the channel started: no start-up status
    // Start-up status: the last outcome the rule holder reported since the start (the refusal of
    // the stored set by an upgrade that checks more, a rollback or confirmation by the probation
    // monitor at start), else the active set as applied. Published after the channel started: an
    // outcome reported while it started (an upstream channel loads mqtt.js first) could not be
    // sent, and the 'applied' that followed it hid a rollback at start from the office.
    const last = lastUpdateOf(rules);
    if (last) {
      if (unheard && last.at === unheard.at && last.state === unheard.state) this.updates.inc({ result: last.state });
      this.publishStatus(last);
    } else {
      const st = rules.status() as { activeVersion: number | null; source: string | null };
      this.publishStatus({ state: 'applied', version: st.activeVersion ?? undefined, source: st.source ?? 'start', at: Date.now(), errors: [] });
    }
    this.deps.logger.info({ channel: channel.kind, topics: this.topics }, 'remote control listening');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.deps.rules.off('status', this.onStatus);
    this.unsubscribeRefusals?.();
    // The channel first: an update it delivered after the stop began (the local broker is still
    // up, an upstream connection still ending) was handled after the stop returned, beside the
    // rest of the gateway's stop (its status never published, applied or refused by rules that
    // were stopping). Stopped, nothing more arrives (upstream, the broker keeps it for the next
    // start), and every update it delivered is in the chain waited for here.
    await this.deps.channel.stop();
    await this.chain;
  }

  /** The status document for an update outcome. */
  statusDocument(s: RuleUpdateStatus): ControlStatus {
    return statusDocument(s, {
      gatewayId: this.deps.gatewayId,
      installationId: this.deps.installationId?.(),
      acceptedVersion: this.accepted.version,
      rules: this.deps.rules,
      probation: this.deps.probation?.current(),
    });
  }

  private publishStatus(s: RuleUpdateStatus): void {
    if (!this.started) return;
    const doc = this.statusDocument(s);
    this.emit('status', doc);
    this.lastStatus = JSON.stringify(doc);
    this.sendStatus(this.lastStatus);
  }

  private sendStatus(body: string): void {
    this.deps.channel.publish(this.topics.status, body, { qos: 1, retain: true }).catch((err: unknown) => {
      this.statusLog('status', { err: errorMessage(err), topic: this.topics.status }, 'could not publish the rule status');
    });
  }

  /**
   * A refusal decided here (before the RuleHost): counted, logged and reported like any other
   * attempt, with its code (the office tells a replay from a bad signature without reading prose).
   */
  private refuse(source: string, message: string, reason: Refusal, code: ErrorCode, version?: number): void {
    this.refused.inc({ reason });
    // Through the holder: the last update attempt there too (/api/rules, `rules list`, the events),
    // and back here as a status event (counted, logged, published).
    // The whole payload was refused, no one rule or place in it: no empty rule and where for the office to read.
    this.deps.rules.reportRefused({ state: 'rejected', version, source, at: Date.now(), errors: [{ message }], code });
  }

  /** The local broker refused a publish on a control topic before it reached us. */
  private brokerRefused(r: PublishRefusal): void {
    if (r.topic !== this.topics.set && r.topic !== this.topics.rollback) return;
    // The upstream channel skipped it unread (over control.maxPayloadBytes; it names no client).
    if (r.reason === 'too-large' && this.deps.channel.kind !== 'local') return this.overCap(`mqtt:${this.deps.channel.kind}`, r.bytes);
    const source = `mqtt:${this.deps.channel.kind} (client ${r.client || '?'})`;
    if (r.reason === 'too-large') {
      this.refuse(
        source,
        ERRORS.GH_PAYLOAD_TOO_LARGE(
          { bytes: r.bytes, maxPayloadBytes: r.maxPayloadBytes ?? '(broker.maxPayloadBytes)' },
          {
            where: r.topic,
            hint: 'the sender was disconnected: send a smaller rule set (split long SQL into fewer rules), or raise broker.maxPayloadBytes',
          },
        ).describe(),
        'too-large',
        'GH_PAYLOAD_TOO_LARGE',
      );
    } else {
      // not reported on the status topic: a client that may not publish updates must not be able to write status either
      this.refused.inc({ reason: 'unauthorized' });
    }
  }

  private overCap(source: string, bytes: number): void {
    this.refuse(
      source,
      ERRORS.GH_CONTROL_CHANNEL(
        { reason: `control payload of ${bytes} bytes exceeds control.maxPayloadBytes (${this.opts.maxPayloadBytes})` },
        { hint: 'send a smaller rule set, or raise control.maxPayloadBytes' },
      ).describe(),
      'too-large',
      'GH_CONTROL_CHANNEL',
    );
  }

  private receive(kind: 'set' | 'rollback', payload: Buffer, retained = false): void {
    const source = kind === 'set' ? `mqtt:${this.deps.channel.kind}` : `mqtt rollback:${this.deps.channel.kind}`;
    if (payload.length > this.opts.maxPayloadBytes) return this.overCap(source, payload.length);
    // Full: the oldest waiting update gives way, not the newest. Updates queued by the broker while
    // the gateway was offline arrive in a burst, and the last one the office sent is the one it
    // wants running (a newer version makes the older ones replays anyway).
    if (this.waiting.length >= this.opts.maxPending) {
      const superseded = this.waiting.shift() as Waiting;
      const claimed = claimedVersion(superseded.payload);
      this.refuse(
        superseded.source,
        ERRORS.GH_CONTROL_CHANNEL(
          {
            reason: `superseded by a later update (control.maxPending ${this.opts.maxPending} were already waiting; the newest are applied)${claimed === undefined ? '' : `: the document of version ${claimed} (not verified: never opened)`}`,
          },
          { hint: 'nothing, if the newest update is the one wanted; to have each applied, send them further apart or raise control.maxPending' },
        ).describe(),
        'busy',
        'GH_CONTROL_CHANNEL',
        claimed,
      );
    }
    const update: Waiting = { kind, payload, source, retained };
    this.waiting.push(update);
    this.chain = this.chain
      .then(() => {
        const i = this.waiting.indexOf(update);
        if (i < 0) return undefined; // superseded while it waited
        this.waiting.splice(i, 1);
        return this.handle(kind, payload, source, retained);
      })
      .catch((err: unknown) => this.failedLog('failed', { err: errorMessage(err) }, 'remote control update failed'));
  }

  private async handle(kind: 'set' | 'rollback', payload: Buffer, source: string, retained = false): Promise<void> {
    let bytes: Buffer;
    let signed: boolean;
    try {
      ({ bytes, signed } = this.deps.verifier.unwrap(payload, 'remote', kind === 'set' ? 'update' : 'rollback'));
    } catch (err) {
      // The version it says it carries, unverified: the office tells which of its updates was refused.
      const claimed = claimedVersion(payload);
      this.refuse(source, errorMessage(err), 'signature', err instanceof GatehouseError ? err.code : 'GH_RULESET_SIGNATURE', claimed);
      return;
    }
    if (!signed && !looksLikeDocument(bytes)) {
      // unsigned updates (control.allowUnsigned, trusted networks only): a bare rule set, or an empty rollback
      if (retained) {
        // No version guards these. A retained rollback rolled back again at every connect (the
        // running set and the last good one swapped at each restart), and a retained set already
        // applied (or older than one sent since) was 'unchanged' or refused as stale over the
        // start-up status. Their first delivery, live, carries no retain flag and is acted on.
        if (kind === 'rollback') return this.retainedAgain(kind, undefined);
        const claimed = claimedVersion(payload);
        const active = (this.deps.rules.status() as { activeVersion: number | null }).activeVersion;
        if (claimed !== undefined && active !== null && claimed <= active) return this.retainedAgain(kind, claimed);
      }
      if (kind === 'set') await this.deps.rules.applyFromBytes(payload, undefined, source, { origin: 'remote', probation: this.onProbation() });
      else await this.deps.rules.rollback(source);
      return;
    }
    let doc: UpdateDocument | undefined;
    try {
      doc = parseUpdateDocument(bytes);
      // A document published retained (mosquitto_pub -r) comes again at every connect to the
      // control broker: one already accepted is no new attempt. Before, each restart or reconnect
      // refused it as a replay (or, past its expiresAt, as expired) and that refusal replaced the
      // start-up status on the retained status topic: the office saw 'rejected' for a gateway
      // running the very set it brought. Its signature verified above: a forged one is refused.
      if (retained && doc.version <= this.accepted.version) return this.retainedAgain(kind, doc.version);
      checkBinding(doc, { gatewayId: this.deps.gatewayId, groups: this.opts.groups, acceptedVersion: this.accepted.version, now: Date.now() });
    } catch (err) {
      // The document's version, once it parsed: the office tells which of its documents was refused.
      if (err instanceof DocumentRefused) this.refuse(source, `${err.message}. Fix: ${err.hint}`, err.reason, err.code, doc?.version);
      else this.refuse(source, errorMessage(err), 'malformed', 'GH_CONTROL_DOCUMENT');
      return;
    }
    // The document version is consumed once the document passed every check, before applying:
    // if the set then fails (bad SQL, missing stream), the office signs a fixed one with a new version.
    // Stored in the same write as the set it brings (accepted.ts): after a kill -9 both or neither.
    if (doc.ruleSet) {
      const write = this.accepted.accept(doc.version, source);
      const s = await this.deps.rules.apply(doc.ruleSet, { source, probation: this.onProbation(), meta: write ? [write] : [] });
      await this.acceptedStored(s.state === 'applied');
      return;
    }
    const to = doc.rollback!.toVersion;
    const st = this.deps.rules.status() as { activeVersion: number | null; lastGoodVersion: number | null };
    if (st.lastGoodVersion !== to) {
      const hint =
        st.lastGoodVersion === null
          ? 'there is no confirmed set to go back to: send a rule set update instead'
          : this.lastGoodIsActive()
            ? // After a rollback from a probation (or a failed one) the last good set is the one
              // running: a rollback to it is refused (GH_RULESET_NO_ROLLBACK) and spends a version.
              `there is no set to go back to: the last confirmed set, version ${st.lastGoodVersion}, is the one running (a set left by a rollback from its probation, or by a failed probation, is dropped): send a rule set update instead`
            : `sign a rollback to it: gatehouse rules sign --rollback-to ${st.lastGoodVersion} --version ${this.accepted.version + 1} --targets ${this.deps.gatewayId} --key KEY`;
      const refused = ERRORS.GH_CONTROL_DOCUMENT(
        {
          reason: `rollback to version ${to} is not possible: the last good (confirmed) set is ${st.lastGoodVersion ?? 'none'} (active ${st.activeVersion ?? 'none'})`,
        },
        { hint },
      );
      this.refuse(source, refused.describe(), 'malformed', 'GH_CONTROL_DOCUMENT', doc.version);
      return;
    }
    const write = this.accepted.accept(doc.version, source);
    const s = await this.deps.rules.rollback(`${source} doc v${doc.version}`, { meta: write ? [write] : [] });
    await this.acceptedStored(s.state === 'rolled-back');
  }

  /** A retained document already accepted, delivered again on connecting: said (info), not refused, no status. */
  private retainedAgain(kind: 'set' | 'rollback', version: number | undefined): void {
    const topic = kind === 'set' ? this.topics.set : this.topics.rollback;
    const what =
      version === undefined
        ? 'a retained unsigned rollback was delivered again on connecting to the control broker: a rollback is done once, when it is published, ignored'
        : `a retained ${kind === 'set' ? 'update' : 'rollback'} (version ${version}) was delivered again on connecting to the control broker: not newer than what this gateway accepted or runs, ignored`;
    this.retainedLog(
      `retained-${kind}`,
      { topic, version, acceptedVersion: this.accepted.version },
      `${what} (no status published); publish updates without retain (the control session keeps them for an offline gateway), or clear it: mosquitto_pub -r -n -t ${topic}`,
    );
  }

  /** The last good set is the running one (as rule-update-checks' rollbackTarget compares them): a rollback has nowhere to go. */
  private lastGoodIsActive(): boolean {
    const lastGood = this.deps.rules.lastGoodDefinition();
    return lastGood !== undefined && JSON.stringify(lastGood) === JSON.stringify(this.deps.rules.activeDefinition());
  }

  /** The accepted version went into the store with the set (`withSet`), else it is written now, alone. */
  private async acceptedStored(withSet: boolean): Promise<void> {
    if (withSet) this.accepted.stored();
    else await this.accepted.persist();
  }

  /** Remote updates go on probation unless control.probation.seconds is 0. */
  private onProbation(): boolean {
    return this.opts.probation.seconds > 0;
  }
}
