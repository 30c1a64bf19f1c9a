// One validation door: zod issues -> a GatehouseError listing every problem with its key path,
// what was expected and what was found. Config files, rule sets, destination options and serial
// link options all validate through here, so every part reports problems the same way.
import type { z } from 'zod';
import { GatehouseError, type ErrorCode } from './errors.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. "broker.listeners.0.port" ("(root)" for the whole file). */
  path: string;
  message: string;
  found?: string;
}

function describeFound(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (Array.isArray(input)) return `a list of ${input.length}`;
  if (typeof input === 'object') return 'an object';
  const s = JSON.stringify(input);
  return `${typeof input} ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}

/** Flatten zod issues into ConfigProblems (union errors contribute their closest branch). */
export function zodProblems(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const visit = (issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]): void => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === 'invalid_union' && issue.errors.length > 0) {
        // Report the branch with the fewest problems: usually the one the user meant.
        const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
        visit(best, path);
        continue;
      }
      const problem: ConfigProblem = { path: path.length ? path.map(String).join('.') : '(root)', message: issue.message };
      if ('input' in issue && issue.code !== 'unrecognized_keys') problem.found = describeFound(issue.input);
      out.push(problem);
    }
  };
  visit(error.issues, []);
  return out;
}

export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `  - ${p.path}: ${p.message}${p.found ? ` (found ${p.found})` : ''}`).join('\n');
}

/**
 * Validate and apply defaults; throws a GatehouseError (GH_CONFIG_INVALID unless another code is
 * given) listing every problem. The one door from zod issues to a GatehouseError.
 */
export function validateConfig<S extends z.ZodType>(schema: S, input: unknown, source: string, code: ErrorCode = 'GH_CONFIG_INVALID', hint = 'see docs/configuration.md for every key, its type and default'): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = zodProblems(result.error);
  throw new GatehouseError(code, `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`, {
    where: source,
    hint,
    details: problems,
  });
}
