// One validation door: zod issues -> a GatehouseError listing every problem with its key path,
// what was expected and what was found. Config files, rule sets, destination options and serial
// link options all validate through here, so every part reports problems the same way.
import type { z } from './zod.js';
import { closestName } from './closest-name.js';
import { ERROR_CATALOGUE, GatehouseError, type ErrorCode } from './errors.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. "broker.listeners.0.port" ("(root)" for the whole file). */
  path: string;
  message: string;
  found?: string;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The string values an issue accepts: an enum's, or a discriminated union's options. */
function choicesOf(issue: z.core.$ZodIssue): string[] | undefined {
  if (issue.code === 'invalid_value') return issue.values.filter((v): v is string => typeof v === 'string');
  const options = (issue as { options?: unknown }).options;
  if (issue.code === 'invalid_union' && Array.isArray(options)) return options.filter((v): v is string => typeof v === 'string');
  return undefined;
}

function describeFound(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'null';
  if (Array.isArray(input)) return `a list of ${input.length}`;
  if (typeof input === 'object') return 'an object';
  const s = JSON.stringify(input);
  return `${typeof input} ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}

/** Keys whose values are secrets (passwords, tokens, AWS secret keys): never echoed in a problem. */
const SECRET_KEY = /password|token|secret/i;
const URL_WITH_PASSWORD = /:\/\/[^/@\s]*:[^/@\s]*@/;

function describeSecret(input: unknown): string {
  if (typeof input === 'string') return `a string of ${input.length} characters (not shown)`;
  // a PIN-like password left unquoted in YAML is a number: still a secret
  if (typeof input === 'number' || typeof input === 'bigint') return 'a number (not shown)';
  return describeFound(input);
}

/** The schema below wrappers (optional, default, nullable, pipe, lazy ...). */
function unwrapSchema(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let s = schema;
  for (let i = 0; i < 16 && s; i++) {
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; getter?: () => z.core.$ZodType };
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else if (def.type === 'lazy' && def.getter) s = def.getter();
    else return s;
  }
  return s;
}

/** The schema of the key at `path` under `schema` (a union: the first branch that has it), if found. */
function schemaAt(schema: z.core.$ZodType | undefined, path: readonly PropertyKey[]): z.core.$ZodType | undefined {
  let s = schema;
  for (const key of path) {
    s = unwrapSchema(s);
    if (!s) return undefined;
    const def = s._zod.def as {
      type: string;
      shape?: Record<string, z.core.$ZodType>;
      element?: z.core.$ZodType;
      valueType?: z.core.$ZodType;
      options?: z.core.$ZodType[];
    };
    if (def.type === 'object') s = def.shape?.[String(key)];
    else if (def.type === 'array') s = def.element;
    else if (def.type === 'record') s = def.valueType;
    else if (def.type === 'union') s = def.options?.map((o) => schemaAt(o, [key])).find((o) => o !== undefined);
    else return undefined;
  }
  return s;
}

/**
 * YAML's (and JSON's) typing slips, said in the file's words: an unquoted 12345 or true where a
 * string belongs (a gateway id, a token) is read as a number or a boolean, and a quoted "false" or
 * "30" where a boolean or number belongs is a string. zod says only "expected string, received number".
 */
function yamlTypeSlip(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code !== 'invalid_type' || !('input' in issue)) return undefined;
  const input = issue.input;
  // Not the value as read: YAML has already changed it (007 is 7, a 20-digit id lost its last digits).
  if (issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean'))
    return `a string is expected; unquoted, this value was read as a ${typeof input}: write it in quotes, as in the file ('...')`;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (issue.expected === 'boolean' && (text === 'true' || text === 'false'))
    return `true or false is expected, without quotes: the quotes make "${input}" a string (write ${text})`;
  if ((issue.expected === 'number' || issue.expected === 'int') && text !== '' && Number.isFinite(Number(text)))
    return `a number is expected, without quotes: the quotes make "${input}" a string (write ${text})`;
  return undefined;
}

/** The keys the mapping at `path` takes (every branch's, for a union of mappings such as a destination). */
function keysAt(schema: z.core.$ZodType | undefined, path: readonly PropertyKey[]): string[] {
  const s = unwrapSchema(path.length ? schemaAt(schema, path) : schema);
  if (!s) return [];
  const def = s._zod.def as { type: string; shape?: Record<string, unknown>; options?: z.core.$ZodType[] };
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'union') return [...new Set(def.options?.flatMap((o) => keysAt(o, [])) ?? [])];
  return [];
}

/** The keys a mapping schema takes (every branch's, for a union): what an unknown key is compared with. */
export function schemaKeys(schema: z.core.$ZodType): string[] {
  return keysAt(schema, []);
}

/** An unknown key's problem, naming the option it is nearest to when one is within 2 edits. */
export function unknownKey(key: string, known: readonly string[]): string {
  const near = closestName(key, known);
  return near ? `unknown key '${key}' (did you mean '${near}'?)` : `unknown key '${key}' (not an option here: misspelt or misplaced?)`;
}

const KIND: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

/**
 * A required key left out: "missing: <what the key is> (a string is required)", from the key's own
 * description, rather than zod's "Invalid input: expected string, received undefined".
 */
function missingKey(issue: z.core.$ZodIssue, schema: z.core.$ZodType | undefined): string | undefined {
  if (issue.code !== 'invalid_type' || !('input' in issue) || issue.input !== undefined) return undefined;
  const at = schemaAt(schema, issue.path);
  // zod's classic schemas read .describe() text back through a `description` getter.
  const describe = (x: z.core.$ZodType | undefined): string | undefined => (x as { description?: string } | undefined)?.description;
  const description = describe(at) ?? describe(unwrapSchema(at));
  const kind = KIND[issue.expected] ?? issue.expected;
  return description ? `missing: ${description} (${kind} is required)` : `missing: this key is required (${kind})`;
}

/** The schema a ZodError thrown by parseOptions came from, so zodProblems can use it when not given. */
const SCHEMA_OF = new WeakMap<z.ZodError, z.core.$ZodType>();

/**
 * `schema.parse(input)` for options read where only the error travels on (a rule action's options:
 * the rule set reports it): the ZodError thrown remembers its schema, so the problem names a
 * missing key by its description and an unknown key's nearest option, as a config file's do.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  SCHEMA_OF.set(result.error, schema);
  throw result.error;
}

/**
 * Flatten zod issues into ConfigProblems (union errors contribute their closest branch; an unknown
 * key is one problem at its own path). `prefix` is prepended to every path (e.g. "destination").
 * `schema`, the one validated against, lets a missing key be named with its description.
 */
export function zodProblems(error: z.ZodError, prefix = '', schema: z.core.$ZodType | undefined = SCHEMA_OF.get(error)): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  // `prefix` is the path shown (it may start with a name the schema does not have, e.g.
  // "destination"); `base` is the same place in `schema`, where an unknown key's neighbours are found.
  const visit = (issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[], base: PropertyKey[]): void => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      const inSchema = [...base, ...issue.path];
      if (issue.code === 'invalid_union' && issue.errors.length > 0) {
        // Report the branch with the fewest problems: usually the one the user meant.
        const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
        visit(best, path, inSchema);
        continue;
      }
      if (issue.code === 'unrecognized_keys') {
        const known = keysAt(schema, inSchema);
        for (const key of issue.keys) out.push({ path: [...path, key].map(String).join('.'), message: unknownKey(key, known) });
        continue;
      }
      // A record key (a stream's name) that fails its own check: zod says only 'Invalid key in record';
      // the key's own messages say what a key may be.
      const missing = missingKey(issue, schema);
      const slip = missing ? undefined : yamlTypeSlip(issue);
      const message =
        missing ??
        slip ??
        (issue.code === 'invalid_key' && issue.issues.length > 0 ? `${issue.message}: ${issue.issues.map((i) => i.message).join('; ')}` : issue.message);
      const problem: ConfigProblem = { path: path.length ? path.map(String).join('.') : '(root)', message };
      if (missing || slip) {
        out.push(problem);
        continue;
      }
      // A secret given in the wrong form (a plain password where a hash belongs) must not be
      // echoed into the journal: say what kind of value it was, not the value.
      // A check across a block's keys (requestCert needs ca) has the whole block as its input:
      // "found an object" would say nothing its message does not.
      // A key's check that zod runs on its block (a discriminator: framing.type, a source's type) has
      // the block as its input and the key in its path: what was found is the key's value, not 'an
      // object' ({ type: crc16 } read 'expected line | cobs | slip | crc (found an object)').
      const key = issue.path.at(-1);
      const ofKey = 'input' in issue && isPlainObject(issue.input) && typeof key === 'string' && Object.hasOwn(issue.input, key) ? issue.input[key] : undefined;
      const input = ofKey ?? ('input' in issue ? issue.input : undefined);
      // The same for a check on a block key whose value is a block (an http source's auth, defaulted
      // to {}): 'needs credentials ... (found an object)' read as if an object were wrong.
      const blockCheck = issue.code === 'custom' && isPlainObject(ofKey ?? issue.input);
      // So is a URL holding a password (postgres://user:pw@db pasted into a host), whatever its key.
      const secret = SECRET_KEY.test(String(path.at(-1) ?? '')) || (typeof input === 'string' && URL_WITH_PASSWORD.test(input));
      if ('input' in issue && !blockCheck) problem.found = secret ? describeSecret(input) : describeFound(input);
      // A block switched on or off with a bare true/false (ack: true, admin: false): its switch is
      // its `enabled` key, so say the line to write rather than 'expected object, received boolean'.
      if (issue.code === 'invalid_type' && issue.expected === 'object' && typeof input === 'boolean' && keysAt(schema, inSchema).includes('enabled'))
        problem.message += `: write ${String(path.at(-1) ?? 'it')}: { enabled: ${input} }`;
      // A misspelt choice (type: kinesiss, int16 for i16) is named with the choice it is nearest to.
      const choices = choicesOf(issue);
      const near = !secret && typeof input === 'string' && choices ? closestName(input, choices) : undefined;
      if (near !== undefined && near !== input) problem.message += ` (did you mean '${near}'?)`;
      // One value where a list is needed (`paths: /var/log/*.log`, `publicKeys: ops.pub`, as
      // Kinesis Agent's filePattern and many tools take one): say how to write it as a list.
      if (issue.code === 'invalid_type' && issue.expected === 'array' && !secret && 'input' in issue && ['string', 'number'].includes(typeof issue.input))
        problem.message += `: a list is needed even for one entry: write ${String(path.at(-1) ?? 'it')}: [${JSON.stringify(issue.input)}]`;
      out.push(problem);
    }
  };
  visit(error.issues, prefix ? prefix.split('.') : [], []);
  return out;
}

export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map((p) => `  - ${p.path}: ${p.message}${p.found ? ` (found ${p.found})` : ''}`).join('\n');
}

/**
 * Validate and apply defaults; throws a GatehouseError (GH_CONFIG_INVALID unless another code is
 * given) listing every problem. The one door from zod issues to a GatehouseError.
 */
export function validateConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: string,
  code: ErrorCode = 'GH_CONFIG_INVALID',
  hint?: string,
  at: { where?: string; pathPrefix?: string } = {},
): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw problemsError(code, zodProblems(result.error, at.pathPrefix, schema), source, hint, at.where ?? source);
}

/**
 * The GatehouseError for a list of problems: "<source> is invalid (N problems):" then one line per
 * problem. The hint defaults to the code's hint in the catalogue.
 */
export function problemsError(code: ErrorCode, problems: ConfigProblem[], source: string, hint?: string, where = source): GatehouseError {
  return new GatehouseError(code, `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${formatProblems(problems)}`, {
    where,
    hint: hint ?? ERROR_CATALOGUE[code].hint,
    details: problems,
  });
}

/**
 * Several independent problems found by checks past the schema (cross-section checks, files,
 * destinations, the rule set) as one error, so a user fixes them in one pass: one problem is
 * returned as it is; more keep the first one's code and list each with its place and its fix.
 */
export function combineProblems(errors: GatehouseError[], source: string): GatehouseError | undefined {
  if (errors.length <= 1) return errors[0];
  const lines = errors.map((e) => {
    const [first, ...rest] = e.message.split('\n');
    const head = `  - ${e.where ? `${e.where}: ` : ''}${e.code}: ${first}`;
    const tail = rest.map((l) => `    ${l}`);
    return [head, ...tail, ...(e.hint ? [`    fix: ${e.hint}`] : [])].join('\n');
  });
  return new GatehouseError((errors[0] as GatehouseError).code, `${source} has ${errors.length} problems:\n${lines.join('\n')}`, {
    hint: 'fix each listed problem (each names its place and its fix)',
    details: errors.map((e) => e.toJSON()),
  });
}
