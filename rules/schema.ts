// Rule set validation (zod) and loading from a YAML or JSON file.
import { readFile } from 'node:fs/promises';
import { z } from '../core/zod.js';
import { ERRORS, GatehouseError, fileErrorReason } from '../core/errors.js';
import { lazyPackage } from '../core/lazy-package.js';
import { zodProblems } from '../core/validation.js';
import { compileSql } from './sql/compiler.js';
import type { RuleSetDefinition } from './types.js';
import { MAX_RULE_SET_DEPTH, nestsDeeperThan } from './yaml-depth.js';
import { positionIn, yamlSyntaxProblem } from './syntax-position.js';

// Loaded with the first rule set file (a rule set given inline in the config needs no YAML parser).
const yaml = lazyPackage<typeof import('yaml')>('yaml', 'reading rule set files');

const actionConfigSchema = z
  .record(z.string(), z.record(z.string(), z.unknown()))
  .refine((o) => Object.keys(o).length === 1, { message: 'an action is an object with exactly one key, its kind, e.g. { republish: { topic: "out/x" } }' })
  .describe('An action in AWS IoT shape: { kind: { ...options } }');

export const ruleSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/, 'rule names use letters, digits and _ only (as in AWS IoT)')
    .max(128)
    .describe('Unique rule name'),
  sql: z.string().min(1).describe("AWS IoT SQL statement, e.g. SELECT * FROM 'sensors/#'"),
  sqlVersion: z.enum(['2016-03-23', '2015-10-08']).optional().describe('AWS IoT SQL version (default 2016-03-23)'),
  enabled: z.boolean().default(true).describe('Disabled rules are compiled (checked) but never run'),
  description: z.string().optional().describe('Free text'),
  actions: z.array(actionConfigSchema).min(1, 'a rule needs at least one action').describe('Actions run with the SELECT output'),
  errorAction: actionConfigSchema.optional().describe('Receives one AWS-format error message when an action fails'),
});

export const ruleSetSchema = z
  .strictObject({
    version: z.number().int().nonnegative().describe('Rule set version; remote updates must increase it'),
    rules: z.array(ruleSchema).describe('The rules'),
    force: z.boolean().optional().describe('Apply even when the version is not newer than the active one (docs/remote-control.md); not kept with the set'),
  })
  .superRefine((rs, ctx) => {
    const seen = new Set<string>();
    rs.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', message: `duplicate rule name '${r.name}'`, path: ['rules', i, 'name'], input: r.name });
      seen.add(r.name);
    });
  });

export interface RuleSetIssue {
  /** Rule name, or '' for set-level problems. */
  rule: string;
  /** line:column inside the SQL / template, or a key path. */
  where: string;
  message: string;
  code?: string;
}

/** Validate an unknown value as a rule set; throws GH_RULESET_INVALID listing every issue. */
export function parseRuleSet(input: unknown, source = 'rule set'): RuleSetDefinition {
  const r = ruleSetSchema.safeParse(input, { reportInput: true });
  if (r.success) {
    // `force` is an instruction to the update, not part of the set.
    const { force: _force, ...def } = r.data;
    return def as RuleSetDefinition;
  }
  const rules = (input as { rules?: Array<{ name?: unknown }> } | null)?.rules;
  // The validation door lists every problem with its key path and what was found.
  const issues: RuleSetIssue[] = zodProblems(r.error, '', ruleSetSchema).map((p) => {
    const [head, at] = p.path.split('.');
    const idx = head === 'rules' ? Number(at) : NaN;
    const name = Number.isInteger(idx) && Array.isArray(rules) && typeof rules[idx]?.name === 'string' ? String(rules[idx]!.name) : '';
    return { rule: name, where: p.path, message: p.found ? `${p.message} (found ${p.found})` : p.message };
  });
  // The SQL of every rule is checked too, so one pass lists the shape and the SQL errors together
  // (before, the SQL ones showed only once the shape was right).
  (Array.isArray(rules) ? rules : []).forEach((r, i) => {
    const rule = r as { name?: unknown; sql?: unknown; sqlVersion?: unknown } | null;
    if (typeof rule?.sql !== 'string' || rule.sql === '') return;
    try {
      compileSql(rule.sql, { sqlVersion: rule.sqlVersion === '2015-10-08' ? '2015-10-08' : '2016-03-23' });
    } catch (err) {
      const name = typeof rule.name === 'string' ? rule.name : `rules[${i}]`;
      const e = err instanceof GatehouseError ? err : undefined;
      issues.push({
        rule: name,
        where: e?.where ?? '',
        message: e ? `${e.code}: ${e.message}${e.hint ? ` (fix: ${e.hint})` : ''}` : String(err),
        ...(e ? { code: e.code } : {}),
      });
    }
  });
  throw rulesetError(issues, source);
}

/**
 * GH_RULESET_INVALID: "<source> has N errors:" then one line per issue, its rule and place first.
 * A problem of the whole file (not YAML, nested too deep) is a list of one, as the API's errors[].
 */
export function rulesetError(issues: RuleSetIssue[], source = 'rule set', options: { where?: string; hint?: string } = {}): GatehouseError {
  const label = (i: RuleSetIssue): string => (i.rule ? `rule ${i.rule}${i.where ? ` (${i.where})` : ''}: ` : i.where ? `${source} (${i.where}): ` : '');
  return ERRORS.GH_RULESET_INVALID(
    {
      source,
      count: `${issues.length} error${issues.length === 1 ? '' : 's'}`,
      problems: issues.map((i) => `  - ${label(i)}${i.message.replaceAll('\n', '\n    ')}`).join('\n'),
    },
    { details: issues, ...options },
  );
}

/** Read a rule set from a YAML or JSON file (YAML is a superset of JSON) and validate its shape. */
export async function loadRuleSetFile(path: string): Promise<RuleSetDefinition> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw ERRORS.GH_CONFIG_READ(
      { what: 'rule set file', file: path, reason: fileErrorReason(err) },
      { where: path, hint: 'check the path and the file permissions', cause: err },
    );
  }
  const parser = yaml();
  // Before the parser composes it (recursively): a file of 20 KB of '[' overflowed its stack, and a
  // few SIGHUP reloads of it crashed the gateway (V8 out of memory).
  const deep = nestsDeeperThan(parser, text, MAX_RULE_SET_DEPTH);
  if (deep) {
    throw rulesetError(
      [
        {
          rule: '',
          where: '', // the position once, in the error's where (file:line:col)
          message: `it nests lists and objects deeper than ${MAX_RULE_SET_DEPTH} levels (a rule set needs about 10): not read`,
        },
      ],
      `rule set file ${path}`,
      {
        where: `${path}:${deep.line}:${deep.col}`,
        hint: 'check that the file holds the rule set itself (version: N, rules: [...]) and that its brackets close',
      },
    );
  }
  const doc = parser.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    // the position once, in where (file:line:col), not again in the parser's text
    const problem = yamlSyntaxProblem(doc.errors[0]);
    throw rulesetError([{ rule: '', where: '', message: `it is not valid YAML/JSON: ${problem.reason}` }], `rule set file ${path}`, {
      where: positionIn(path, problem),
      hint: 'check indentation and quoting; SQL containing quotes is easiest in a YAML block scalar (sql: >-)',
    });
  }
  return parseRuleSet(doc.toJS(), path);
}
