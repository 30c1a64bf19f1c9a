// Reading a rule set sent as bytes (admin API body, CLI, remote control): the signature policy of
// its origin, then JSON/YAML, then the rule set inside a locally given update document. The rule
// host (rule-host.ts) applies what this returns, or reports the refusal. Also the status fields of
// a refusal (errors, code), shared with the rule host.
import { GatehouseError, errorMessage, type ErrorCode } from '../../core/errors.js';
import { lazyPackage } from '../../core/lazy-package.js';
import type { Logger } from 'pino';
import { isUpdateDocument } from '../control/document.js';
import type { RuleUpdateStatus } from '../control/rule-set-target.js';
import type { UpdateOrigin, UpdateVerifier } from '../control/verify.js';
import { MAX_RULE_SET_DEPTH, nestsDeeperThan } from '../../rules/yaml-depth.js';
import { yamlSyntaxProblem, type SyntaxProblem } from '../../rules/syntax-position.js';
import { rateLimitedLog, type RateLog } from '../../core/rate-log.js';

/**
 * Refusals of a rule set's bytes, at most a line a minute per source and code with the count
 * (`suppressed`): a client publishing unsigned updates on the control topics (or a script PUTting
 * to the admin API) made one per message; each refusal still gets its status, and signature
 * failures their counter. The rule host makes them once (refusedLogs).
 */
export interface RefusedLogs {
  warn: RateLog;
  error: RateLog;
}

export function refusedLogs(log: Logger, monotonic?: () => number): RefusedLogs {
  return { warn: rateLimitedLog(log, 'warn', 60_000, monotonic), error: rateLimitedLog(log, 'error', 60_000, monotonic) };
}

// Loaded with the first rule set sent as text (admin API, control plane): not at start.
const yaml = lazyPackage<typeof import('yaml')>('yaml', 'rule sets sent as JSON/YAML text');

/** The code a refusal reports (RuleUpdateStatus.code): the error's own, or GH_INTERNAL for a bug. */
export function codeOf(err: unknown): ErrorCode {
  return err instanceof GatehouseError ? err.code : 'GH_INTERNAL';
}

export function errorsOf(err: unknown): RuleUpdateStatus['errors'] {
  if (err instanceof GatehouseError && Array.isArray(err.details)) {
    return (err.details as Array<{ rule?: string; where?: string; message?: string }>).map((d) => ({
      rule: d.rule ?? '',
      where: d.where ?? '',
      message: d.message ?? '',
    }));
  }
  return [{ rule: '', where: err instanceof GatehouseError ? (err.where ?? '') : '', message: errorMessage(err) }];
}

export type RuleSetBytes = { ok: true; def: unknown; force: boolean } | { ok: false; errors: RuleUpdateStatus['errors']; code: ErrorCode };

/**
 * A top-level `force: true` inside the (signed) document forces an older version. Refusals of the
 * signature or of a missing parser are logged here (with `source`); unparsable text is not.
 */
export function readRuleSetBytes(body: Buffer, verifier: UpdateVerifier, origin: UpdateOrigin, refused: RefusedLogs, source: string): RuleSetBytes {
  let bytes: Buffer;
  try {
    bytes = verifier.unwrap(body, origin).bytes;
  } catch (err) {
    refused.warn(`${source} ${codeOf(err)}`, { err: errorMessage(err), source }, 'rule set refused');
    return { ok: false, errors: errorsOf(err), code: codeOf(err) };
  }
  let yamlParser: typeof import('yaml');
  try {
    yamlParser = yaml();
  } catch (err) {
    refused.error(`${source} ${codeOf(err)}`, { err: errorMessage(err), source }, 'rule set refused');
    return { ok: false, errors: errorsOf(err), code: codeOf(err) };
  }
  const text = bytes.toString('utf8');
  if (nestsDeeperThan(yamlParser, text, MAX_RULE_SET_DEPTH)) {
    const message = `nested deeper than ${MAX_RULE_SET_DEPTH} levels (lists and objects inside each other; a rule set needs about 10): not read. Fix: send the rule set itself (version: N, rules: [...])`;
    return { ok: false, errors: [{ rule: '', where: '', message }], code: 'GH_RULESET_INVALID' };
  }
  try {
    const doc = yamlParser.parseDocument(text);
    if (doc.errors.length) throw doc.errors[0];
    let def: unknown = doc.toJS();
    // An empty body (or only comments): the parser's 'expected object, received null' said nothing useful.
    if (def === null || def === undefined) {
      const message = 'empty: no rule set in the body; send a rule set in YAML or JSON (version: N, rules: [...])';
      return { ok: false, errors: [{ rule: '', where: '', message }], code: 'GH_RULESET_INVALID' };
    }
    // A signed update document (gateway/control/document.ts) given locally: the operator's action
    // needs no replay binding, the rule set inside is applied like any other.
    if (isUpdateDocument(def)) {
      const d = def as { ruleSet?: unknown; rollback?: { toVersion?: unknown } };
      // A rollback document carries no rule set: compiled as one, its fields came back as unknown keys.
      if (d.ruleSet === undefined && d.rollback !== undefined) {
        const to = typeof d.rollback?.toVersion === 'number' ? ` to version ${d.rollback.toVersion}` : '';
        const message = `this is a signed rollback document (rollback${to}), not a rule set: roll back with \`gatehouse rules rollback\` (POST /api/rules/rollback), or publish the document on <prefix>/<gatewayId>/rules/rollback`;
        return { ok: false, errors: [{ rule: '', where: '', message }], code: 'GH_RULESET_INVALID' };
      }
      def = d.ruleSet ?? def;
    }
    const force = def !== null && typeof def === 'object' && (def as { force?: unknown }).force === true;
    return { ok: true, def, force };
  } catch (err) {
    // yaml's text ends with the position and an excerpt over several lines: the position once, in where
    const problem: SyntaxProblem = err instanceof yamlParser.YAMLError ? yamlSyntaxProblem(err) : { reason: errorMessage(err) };
    const where = problem.line === undefined ? '' : `line ${problem.line}, column ${problem.col}`;
    return { ok: false, errors: [{ rule: '', where, message: `not JSON/YAML: ${problem.reason}` }], code: 'GH_RULESET_INVALID' };
  }
}
