// Running a rule's actions on one output, and its error action when some fail: the per-rule
// failure counters, the rate-limited failure logs, and the AWS IoT error-action message (one per
// rule and message, listing every failed action). The engine (engine.ts) creates one runner at
// construction and calls it for every output, per message and for rows a window emits from a timer.
// Invariant: a promise is returned only when durable work (or a durable failure) must gate the
// source's acknowledgement; non-durable failures are counted, logged and routed to the error
// action, never rejected.
import { randomUUID } from 'node:crypto';
import type { RateLog } from '../core/rate-log.js';
import { errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import type { Action } from './types.js';
import { messageTraceId, RuleActionContext, type EvalContext } from './sql/context.js';
import type { CompiledRule } from './ruleset.js';

export interface ActionFailure {
  failedAction: string;
  failedResource: string;
  errorMessage: string;
}

/**
 * An action's failure on the resource it used for this message, when that differs from its
 * `resource` as written (a republish topic template rendered to `out/7`): thrown or rejected by
 * the action, it gives the error action's `failedResource` and the failure log's `resource`, as
 * AWS IoT names the concrete resource. The runner reports `error` itself (its message, and what
 * a durable action's promise rejects with).
 */
export class ActionFailedOn extends Error {
  constructor(
    readonly resource: string,
    readonly error: unknown,
  ) {
    super(errorMessage(error));
  }
}

/** The failure an action threw, and the resource it failed on (its own when it did not say). */
function unwrapFailure(a: Action, err: unknown): { resource: string; error: unknown } {
  return err instanceof ActionFailedOn ? { resource: err.resource, error: err.error } : { resource: a.resource, error: err };
}

/** What a durable action's failure rejects the message's promise with: the error, not its wrapper. */
function causeOf(err: unknown): unknown {
  return err instanceof ActionFailedOn ? err.error : err;
}

/**
 * AWS IoT error action message (one per rule and message, listing every failed action). The trace
 * id is given twice: `cloudwatchTraceId` as AWS names it (consumers written for AWS read it) and
 * `traceId`, Gatehouse's name since its first version.
 */
export interface ErrorActionPayload {
  ruleName: string;
  topic: string;
  cloudwatchTraceId: string;
  traceId: string;
  clientId: string;
  base64OriginalPayload: string;
  failures: ActionFailure[];
}

/** 'republish' -> 'RepublishAction', as AWS names failed actions ('S3Action', 'KinesisAction'). */
export function awsActionName(kind: string): string {
  return `${kind.charAt(0).toUpperCase()}${kind.slice(1)}Action`;
}

const noop = (): void => undefined;

export class ActionRunner {
  /** rateLog: the engine's per-message failure log (at most one line per rule, kind of failure and interval). */
  constructor(private readonly rateLog: RateLog) {}

  private failure(rule: CompiledRule, a: Action, err: unknown): ActionFailure {
    const st = rule.stats;
    st.actionFailures++;
    st.failuresByAction.set(a.kind, (st.failuresByAction.get(a.kind) ?? 0) + 1);
    const { resource, error } = unwrapFailure(a, err);
    const message = errorMessage(error);
    st.lastError = `${a.kind} action: ${message}`;
    this.rateLog(`action\0${rule.name}\0${a.kind}`, { rule: rule.name, action: a.kind, resource, err: message }, 'rule action failed');
    return { failedAction: awsActionName(a.kind), failedResource: resource, errorMessage: message };
  }

  /** Runs the actions; returns a promise only when durable work (or a durable failure) must gate the ack. */
  runActions(rule: CompiledRule, out: Buffer, msg: Message, c: EvalContext): Promise<void> | undefined {
    const actx = new RuleActionContext(msg, rule.name, c);
    // The common rule (one action, no error action: `SELECT * ... -> stream`) takes a short way with
    // the same outcome as the general one below: one promise per message instead of about six
    // (the general path's arrays, closures and Promise.all were ~12% of the allocations per message).
    if (rule.actions.length === 1 && !rule.errorAction) return this.runOneAction(rule, rule.actions[0]!, out, actx);
    let failures: ActionFailure[] | undefined;
    let asyncs: Promise<void>[] | undefined;
    let durableStarted = false;
    let durableErr: unknown;
    let durableFailed = false;
    const actions = rule.actions;
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i]!;
      let r: void | Promise<void>;
      try {
        r = a.execute(out, actx);
      } catch (err) {
        (failures ??= []).push(this.failure(rule, a, err));
        if (a.durable && !durableFailed) {
          durableFailed = true;
          durableErr = causeOf(err);
        }
        continue;
      }
      if (r && typeof (r as Promise<void>).then === 'function') {
        if (a.durable) durableStarted = true;
        (asyncs ??= []).push(
          (r as Promise<void>).then(undefined, (err: unknown) => {
            (failures ??= []).push(this.failure(rule, a, err));
            if (a.durable && !durableFailed) {
              durableFailed = true;
              durableErr = causeOf(err);
            }
          }),
        );
      }
    }
    const finish = (): Promise<void> | undefined => {
      const ep = failures ? this.fireErrorAction(rule, msg, actx, failures) : undefined;
      if (durableFailed) return (ep ?? Promise.resolve()).then(() => Promise.reject(durableErr));
      return ep;
    };
    if (!asyncs) return finish();
    const all = Promise.all(asyncs).then(finish);
    if (durableStarted || durableFailed) return all;
    all.catch(noop); // non-durable async work: failures already counted and routed to the error action
    return undefined;
  }

  /** runActions for one action and no error action: a failure is counted, logged and (durable) rejects. */
  private runOneAction(rule: CompiledRule, a: Action, out: Buffer, actx: RuleActionContext): Promise<void> | undefined {
    let r: void | Promise<void>;
    try {
      r = a.execute(out, actx);
    } catch (err) {
      this.failure(rule, a, err);
      return a.durable ? Promise.reject(causeOf(err)) : undefined;
    }
    if (!r || typeof (r as Promise<void>).then !== 'function') return undefined;
    const p = (r as Promise<void>).then(undefined, (err: unknown) => {
      this.failure(rule, a, err);
      throw causeOf(err);
    });
    if (a.durable) return p;
    p.catch(noop); // non-durable async work: the failure is counted and logged
    return undefined;
  }

  /** One AWS-format error message to the rule's errorAction; a promise when that action is durable. */
  fireErrorAction(rule: CompiledRule, msg: Message, actx: RuleActionContext, failures: ActionFailure[]): Promise<void> | undefined {
    const ea = rule.errorAction;
    if (!ea) return undefined;
    const traceId = messageTraceId(msg) ?? randomUUID();
    const payload: ErrorActionPayload = {
      ruleName: rule.name,
      topic: msg.topic,
      cloudwatchTraceId: traceId,
      traceId,
      clientId: msg.source.id,
      base64OriginalPayload: msg.payload.toString('base64'),
      failures,
    };
    const buf = Buffer.from(JSON.stringify(payload), 'utf8');
    const onErr = (err: unknown): void => {
      const { resource, error } = unwrapFailure(ea, err);
      rule.stats.errors++;
      rule.stats.lastError = `error action ${ea.kind}: ${errorMessage(error)}`;
      this.rateLog(`error-action\0${rule.name}`, { rule: rule.name, action: ea.kind, resource, err: errorMessage(error) }, 'error action failed too');
    };
    try {
      const r = ea.execute(buf, actx);
      if (r && typeof (r as Promise<void>).then === 'function') {
        const p = (r as Promise<void>).then(noop, onErr);
        return ea.durable ? p : undefined;
      }
    } catch (err) {
      onErr(err);
    }
    return undefined;
  }
}
