// Reading and validating configuration files (YAML or JSON) against a zod schema.
// Every problem is reported at once: key path, what was expected, what was found.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { GatehouseError } from '../errors.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. "broker.listeners.0.port" ("(root)" for the whole file). */
  path: string;
  message: string;
  found?: string;
}

/** Parse YAML or JSON text (JSON is valid YAML, but JSON files get JSON's clearer errors). */
export function parseConfigText(text: string, fileName: string): unknown {
  try {
    if (extname(fileName).toLowerCase() === '.json') return JSON.parse(text);
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `${fileName}:${err.linePos[0].line}:${err.linePos[0].col}` : fileName;
    throw new GatehouseError('GH_CONFIG_READ', `cannot parse ${fileName}: ${(err as Error).message.split('\n')[0]}`, {
      where,
      hint: 'fix the YAML/JSON syntax at that position',
      cause: err,
    });
  }
}

export async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_READ', `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      where: path,
      hint: 'check the path and the file permissions',
      cause: err,
    });
  }
  return parseConfigText(text, path) ?? {};
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

/** Validate and apply defaults; throws GH_CONFIG_INVALID listing every problem. */
export function validateConfig<S extends z.ZodType>(schema: S, input: unknown, source: string): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = zodProblems(result.error);
  throw new GatehouseError('GH_CONFIG_INVALID', `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`, {
    where: source,
    hint: 'see docs/configuration.md for every key, its type and default',
    details: problems,
  });
}
