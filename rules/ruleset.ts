// Rule set compilation: validate the shape, compile every rule's SQL and actions, index by topic
// filter. Every error of every rule is collected and reported at once (GH_RULESET_INVALID).
import { z } from '../core/zod.js';
import { GatehouseError, errorMessage } from '../core/errors.js';
import { zodProblems } from '../core/validation.js';
import { closestName } from '../core/closest-name.js';
import type {
  Action,
  ActionConfig,
  ActionFactoryTools,
  ActionRegistry,
  LookupTableSource,
  ProtoDescriptorSource,
  ShadowLookup,
  RuleCounters,
  RuleDefinition,
  RuleSetDefinition,
} from './types.js';
import { compileSql, type CompiledQuery, type CompilerHooks } from './sql/compiler.js';
import { createFunctionRegistry, type FunctionRegistry } from './sql/functions/index.js';
import { compileTemplate } from './sql/template.js';
import { TopicIndex } from './topic-index.js';
import { parseRuleSet, rulesetError, type RuleSetIssue } from './schema.js';

export const ruleSetCompileOptionsSchema = z.object({
  topicCacheSize: z.number().int().min(1).default(10_000).describe('Topics whose matching rules are memoised (cleared when full)'),
});
export type RuleSetCompileOptions = z.infer<typeof ruleSetCompileOptionsSchema>;

/** Mutable per-rule statistics; the engine attaches them (kept across swaps while the rule's definition is unchanged: rule-counters.ts). */
export interface RuleStats extends RuleCounters {
  failuresByAction: Map<string, number>;
  /** The latest failure, set on failure paths only (which build a message for the log anyway): nothing on success. */
  lastError: string | undefined;
}

export interface CompiledRule {
  readonly name: string;
  readonly enabled: boolean;
  readonly definition: RuleDefinition;
  readonly query: CompiledQuery;
  readonly actions: readonly Action[];
  readonly errorAction: Action | undefined;
  /** Set by the engine that runs this rule set. */
  stats: RuleStats;
}

export interface CompiledRuleSet {
  readonly version: number;
  readonly definition: RuleSetDefinition;
  readonly rules: readonly CompiledRule[];
  /** Enabled rules by FROM filter. */
  readonly index: TopicIndex<CompiledRule>;
}

export interface CompileRuleSetExtras {
  functions?: FunctionRegistry;
  /** Where decode(*, 'proto', ...) reads descriptors (unused when `functions` is given: that registry has its own). */
  protoDescriptors?: ProtoDescriptorSource;
  /** The gateway's local shadows, for get_thing_shadow() (unused when `functions` is given). */
  shadows?: ShadowLookup;
  /** The tables get_dynamodb() reads (unused when `functions` is given). */
  lookupTables?: LookupTableSource;
  hooks?: CompilerHooks;
  options?: Partial<RuleSetCompileOptions>;
  /** Name used in error messages (e.g. the file path). */
  source?: string;
}

/** AWS IoT rule actions (lower case) that call a cloud service: named as such when a copied rule uses one. */
const AWS_CLOUD_ACTIONS = new Set([
  'lambda',
  'dynamodb',
  'dynamodbv2',
  'sns',
  'sqs',
  'stepfunctions',
  'cloudwatchmetric',
  'cloudwatchalarm',
  'cloudwatchlogs',
  'iotanalytics',
  'iotevents',
  'iotsitewise',
  'timestream',
  'kafka',
  'elasticsearch',
  'opensearch',
  'salesforce',
  'location',
]);

export function newStats(): RuleStats {
  return { matched: 0, emitted: 0, errors: 0, actionFailures: 0, failuresByAction: new Map(), lastError: undefined };
}

function describeError(err: unknown): { where: string; message: string; code?: string } {
  if (err instanceof GatehouseError) {
    return { where: err.where ?? '', message: `${err.code}: ${err.message}${err.hint ? ` (fix: ${err.hint})` : ''}`, code: err.code };
  }
  if (err instanceof z.ZodError) {
    return {
      where: '',
      message: zodProblems(err)
        .map((p) => `${p.path === '(root)' ? 'options' : p.path}: ${p.message}${p.found ? ` (found ${p.found})` : ''}`)
        .join('; '),
    };
  }
  return { where: '', message: errorMessage(err) };
}

function buildAction(
  cfg: ActionConfig,
  label: string,
  registry: ActionRegistry,
  tools: ActionFactoryTools,
  rule: string,
  issues: RuleSetIssue[],
): Action | undefined {
  const kind = Object.keys(cfg)[0]!;
  const factory = registry.get(kind);
  if (!factory) {
    const known = `known: ${[...registry.keys()].join(', ') || 'none'}`;
    // a misspelt kind ('republsh') is named with the one meant, as a misspelt option is
    const near = closestName(kind, registry.keys());
    const cloud = AWS_CLOUD_ACTIONS.has(kind.toLowerCase())
      ? `: AWS IoT's ${kind} action calls a cloud service the gateway does not run; send the data upstream (kinesis, firehose, http, s3, mqtt) and act on it there (${known})`
      : `${near ? `: did you mean '${near}'?` : ''} (${known})`;
    issues.push({ rule, where: label, message: `unknown action kind '${kind}'${cloud}` });
    return undefined;
  }
  try {
    return factory(cfg[kind] ?? {}, tools);
  } catch (err) {
    const d = describeError(err);
    issues.push({ rule, where: d.where ? `${label}.${kind}, ${d.where}` : `${label}.${kind}`, message: d.message });
    return undefined;
  }
}

/**
 * Compile a rule set. Throws GH_RULESET_INVALID listing every error (rule name, line:column,
 * message). Actions are constructed here (templates compiled once); call validateRuleSet() for the
 * asynchronous checks (e.g. streams exist) before swapping it in.
 */
export function compileRuleSet(def: RuleSetDefinition | unknown, registry: ActionRegistry, extras: CompileRuleSetExtras = {}): CompiledRuleSet {
  const source = extras.source ?? 'rule set';
  const valid = parseRuleSet(def, source);
  const opts = ruleSetCompileOptionsSchema.parse(extras.options ?? {});
  const functions =
    extras.functions ?? createFunctionRegistry({ protoDescriptors: extras.protoDescriptors, shadows: extras.shadows, lookupTables: extras.lookupTables });
  const issues: RuleSetIssue[] = [];
  const checkIssues = new Set<RuleSetIssue>();
  const rules: CompiledRule[] = [];
  for (const r of valid.rules) {
    const sqlVersion = r.sqlVersion ?? '2016-03-23';
    let query: CompiledQuery | undefined;
    try {
      query = compileSql(r.sql, { sqlVersion, functions, ruleName: r.name, hooks: extras.hooks });
    } catch (err) {
      const d = describeError(err);
      issues.push({ rule: r.name, where: d.where, message: d.message, code: d.code });
    }
    const variables = query?.variables;
    const tools: ActionFactoryTools = {
      rule: r.name,
      compileTemplate: (src) => compileTemplate(src, { sqlVersion, functions, ...(variables ? { variables } : {}) }),
    };
    const actions: Action[] = [];
    r.actions.forEach((cfg, i) => {
      const a = buildAction(cfg, `actions[${i}]`, registry, tools, r.name, issues);
      if (a) actions.push(a);
    });
    const errorAction = r.errorAction ? buildAction(r.errorAction, 'errorAction', registry, tools, r.name, issues) : undefined;
    // The actions' own checks, kept aside: they count only if the set has other errors (else
    // validateRuleSet reports them, as it always did).
    const checked: Array<[string, Action]> = actions.map((a, i) => [`actions[${i}].${a.kind}`, a]);
    if (errorAction) checked.push([`errorAction.${errorAction.kind}`, errorAction]);
    for (const [label, a] of checked) {
      try {
        a.check?.();
      } catch (err) {
        const issue: RuleSetIssue = { rule: r.name, where: label, message: describeError(err).message };
        checkIssues.add(issue);
        issues.push(issue);
      }
    }
    if (query && actions.length === r.actions.length) {
      rules.push({ name: r.name, enabled: r.enabled !== false, definition: r, query, actions, errorAction, stats: newStats() });
    }
  }
  if (issues.length > checkIssues.size) throw rulesetError(issues, source);
  const index = new TopicIndex<CompiledRule>(opts.topicCacheSize);
  // A rule without FROM is left out: it runs only through Basic Ingest ($aws/rules/<rule>/..., by name).
  for (const rule of rules) if (rule.enabled && rule.query.topicFilter !== undefined) index.add(rule.query.topicFilter, rule);
  return { version: valid.version, definition: valid, rules, index };
}

/** Run every action's optional validate() (e.g. the stream exists); throws GH_RULESET_INVALID with all failures. */
export async function validateRuleSet(set: CompiledRuleSet, source = 'rule set'): Promise<void> {
  const issues: RuleSetIssue[] = [];
  for (const rule of set.rules) {
    const all: Array<[string, Action]> = rule.actions.map((a, i) => [`actions[${i}].${a.kind}`, a]);
    if (rule.errorAction) all.push([`errorAction.${rule.errorAction.kind}`, rule.errorAction]);
    for (const [label, a] of all) {
      try {
        await a.validate?.();
      } catch (err) {
        issues.push({ rule: rule.name, where: label, message: describeError(err).message });
      }
    }
  }
  if (issues.length) throw rulesetError(issues, source);
}
