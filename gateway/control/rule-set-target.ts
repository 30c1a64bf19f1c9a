// What the control plane needs of the gateway's rule set holder (the RuleHost in
// gateway/pipeline/rule-host.ts implements it). Declared here so control/ depends on no part of
// the runtime or the pipeline: the runtime hands the holder in.
import type { RuleCounters, RuleSetDefinition } from '../../rules/index.js';
import type { UpdateOrigin } from './verify.js';
import type { ErrorCode } from '../../core/errors.js';

export interface RuleUpdateStatus {
  /** `confirmed`: a set on probation ran its probation without failing (probation.ts). */
  state: 'applied' | 'rejected' | 'unchanged' | 'rolled-back' | 'confirmed';
  /** The version of the attempted set; rolled-back: the version the gateway went back to (the last confirmed set). */
  version: number | undefined;
  /** Rolled-back: the version that was running before the rollback. */
  fromVersion?: number;
  source: string;
  at: number;
  /** rule and where are left out when no one rule or place is concerned (a refused signature, a payload too large). */
  errors: Array<{ rule?: string; where?: string; message: string }>;
  /** When rejected: the error code of the refusal (GH_RULESET_INVALID, GH_RULESET_STALE, GH_RULESET_SIGNATURE, ...). */
  code?: ErrorCode;
  /** Applied on probation: the probation monitor watches it and rolls it back if it fails at run time. */
  probation?: boolean;
}

export interface ApplyBytesOptions {
  /** Accept a version lower than the active one. */
  force?: boolean;
  /** Signature policy: remote (MQTT) or admin (API, CLI). Default admin. */
  origin?: UpdateOrigin;
  /** Put the set on probation once applied (unconfirmed until confirm()); only when a probation will run. */
  probation?: boolean;
}

/**
 * Store writes committed in the same write as the set an update stores (one write: after a kill -9
 * both are in the store or neither is): a signed document's accepted version (accepted.ts). Written
 * only when the set is stored (state applied, rolled-back); otherwise the caller writes them.
 */
export type MetaWrites = ReadonlyArray<readonly [key: string, value: Buffer]>;

export interface RollbackOptions {
  /** Roll back only if this version is still the active one (else nothing happens: state unchanged, not reported). */
  fromVersion?: number;
  /**
   * Why (an automatic rollback): reported as the status code and errors, and the set rolled back
   * from is dropped, not kept as the set to roll back to: it is known to fail.
   */
  failure?: { code: ErrorCode; errors: RuleUpdateStatus['errors'] };
  /** Written with the rolled-back set, in one store write (see MetaWrites). */
  meta?: MetaWrites;
}

export interface RuleSetTarget {
  applyFromBytes(body: Buffer, contentType: string | undefined, source: string, opts?: ApplyBytesOptions): Promise<RuleUpdateStatus>;
  /** Apply a parsed rule set (remote update documents, after their checks). */
  apply(def: unknown, opts: { source: string; force?: boolean; probation?: boolean; meta?: MetaWrites }): Promise<RuleUpdateStatus>;
  rollback(source: string, opts?: RollbackOptions): Promise<RuleUpdateStatus>;
  /** Report that `version` passed its probation (state confirmed), if it is still the active set. */
  confirm(version: number, source: string): Promise<RuleUpdateStatus>;
  /** Toggle one rule (scheduled jobs); reported ('status') only when it changed the active set: a refused or no-op toggle is returned, not reported. */
  setRuleEnabled(name: string, enabled: boolean, source: string): Promise<RuleUpdateStatus>;
  /**
   * Report an update refused before it reached the holder (remote control: signature, replay,
   * target, size): it becomes the last update attempt (/api/rules, `rules list`, the events) and is
   * emitted as 'status' like any other outcome.
   */
  reportRefused(s: RuleUpdateStatus & { state: 'rejected' }): void;
  status(): Record<string, unknown>;
  activeDefinition(): RuleSetDefinition | undefined;
  /** The set a rollback returns to: the last confirmed set before the active one. */
  lastGoodDefinition(): RuleSetDefinition | undefined;
  /** The active set's version while it is unconfirmed (applied on probation, not confirmed yet). */
  unconfirmedVersion(): number | undefined;
  /** Per-rule counters of the running engine (a copy). */
  ruleCounters(): ReadonlyMap<string, RuleCounters>;
  on(event: 'status', listener: (s: RuleUpdateStatus) => void): unknown;
  off(event: 'status', listener: (s: RuleUpdateStatus) => void): unknown;
}
