// What the control plane needs of the gateway's rule set holder (the RuleHost in
// gateway/pipeline/rule-host.ts implements it). Declared here so control/ depends on no part of
// the runtime or the pipeline: the runtime hands the holder in.
import type { RuleSetDefinition } from '../../rules/index.js';
import type { UpdateOrigin } from './verify.js';
import type { ErrorCode } from '../../core/errors.js';

export interface RuleUpdateStatus {
  state: 'applied' | 'rejected' | 'unchanged' | 'rolled-back';
  version: number | undefined;
  source: string;
  at: number;
  errors: Array<{ rule: string; where: string; message: string }>;
  /** When rejected: the error code of the refusal (GH_RULESET_INVALID, GH_RULESET_STALE, GH_RULESET_SIGNATURE, ...). */
  code?: ErrorCode;
}

export interface RuleSetTarget {
  applyFromBytes(body: Buffer, contentType: string | undefined, source: string, force?: boolean, origin?: UpdateOrigin): Promise<RuleUpdateStatus>;
  /** Apply a parsed rule set (remote update documents, after their checks). */
  apply(def: unknown, opts: { source: string; force?: boolean }): Promise<RuleUpdateStatus>;
  rollback(source: string): Promise<RuleUpdateStatus>;
  setRuleEnabled(name: string, enabled: boolean, source: string): Promise<RuleUpdateStatus>;
  status(): Record<string, unknown>;
  activeDefinition(): RuleSetDefinition | undefined;
  on(event: 'status', listener: (s: RuleUpdateStatus) => void): unknown;
  off(event: 'status', listener: (s: RuleUpdateStatus) => void): unknown;
}
