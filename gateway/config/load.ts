// Reading and validating configuration files (YAML or JSON) against a zod schema.
// Every problem is reported at once: key path, what was expected, what was found.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { ERRORS, fileErrorReason } from '../../core/errors.js';
import { fileAccess } from '../../core/file-access.js';
import { lazyPackage } from '../../core/lazy-package.js';
import { MAX_RULE_SET_DEPTH, nestsDeeperThan } from '../../rules/yaml-depth.js';
import { jsonSyntaxProblem, positionIn, yamlSyntaxProblem } from '../../rules/syntax-position.js';
export { formatProblems, validateConfig, zodProblems, type ConfigProblem } from '../../core/validation.js';

// Loaded with the first YAML file: a JSON config file (or none) never pays for the YAML parser.
const yaml = lazyPackage<typeof import('yaml')>('yaml', 'reading YAML configuration files');

/** Parse YAML or JSON text (JSON is valid YAML, but JSON files get JSON's clearer errors). */
export function parseConfigText(text: string, fileName: string): unknown {
  // Loaded outside the try: a missing package is GH_PACKAGE_MISSING, not a syntax error.
  const lib = extname(fileName).toLowerCase() === '.json' ? undefined : yaml();
  // Before the parser sees it: the YAML parser composes recursively (a few thousand '[' in an inline
  // rules: said 'Maximum call stack size exceeded'), and a deep JSON value (JSON.parse takes it)
  // overflowed later, in the code that walks it (JSON.stringify of ADDMETADATA's metadata).
  const deep = lib ? nestsDeeperThan(lib, text, MAX_CONFIG_DEPTH) : jsonNestsDeeperThan(text, MAX_CONFIG_DEPTH);
  if (deep) {
    throw ERRORS.GH_CONFIG_READ(
      {
        what: 'config file',
        file: fileName,
        reason: `it nests lists and objects deeper than ${MAX_CONFIG_DEPTH} levels (the shipped examples need 11 at most): not parsed`,
      },
      {
        where: `${fileName}:${deep.line}:${deep.col}`,
        hint: 'look at the value that goes on nesting there (a generated or unclosed [ or {): close it or flatten it',
      },
    );
  }
  try {
    return lib ? lib.parse(text, { prettyErrors: true }) : JSON.parse(text);
  } catch (err) {
    // the position once, in where (file:line:col), not again in the parser's text
    const problem = lib ? yamlSyntaxProblem(err) : jsonSyntaxProblem(err, text);
    throw ERRORS.GH_CONFIG_READ(
      { what: 'config file', file: fileName, reason: problem.reason },
      {
        where: positionIn(fileName, problem),
        hint: problem.line === undefined ? 'fix the YAML/JSON syntax' : 'fix the YAML/JSON syntax at that line and column',
        cause: err,
      },
    );
  }
}

/**
 * Deepest nesting a configuration file may have: the rule sets' bound (rules/yaml-depth.ts), which
 * also holds the rule set given inline under rules:.
 */
export const MAX_CONFIG_DEPTH = MAX_RULE_SET_DEPTH;

/**
 * Where JSON text first nests more than `limit` arrays and objects (line and column, 1-based), or
 * undefined: a scan of the brackets outside strings (JSON files do not load the YAML parser).
 */
export function jsonNestsDeeperThan(text: string, limit: number): { line: number; col: number } | undefined {
  let depth = 0;
  let inString = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // a backslash escapes the next character
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x0a) {
      line++;
      lineStart = i + 1;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return { line, col: i - lineStart + 1 };
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/**
 * A config file this user may not read: who runs, who may read it, and how an operator gets in.
 * install.sh makes it root:gatehouse 0640 (it holds password hashes, the admin token, upstream
 * credentials): an operator's `gatehouse status --config` or `check-config` was told to "check
 * the path and the file permissions".
 */
function unreadableConfigHint(path: string): string {
  const a = fileAccess(path);
  const group = a.group && a.group !== 'root' ? `, or as a member of its group (sudo adduser ${a.user} ${a.group}, then log in again)` : '';
  return (
    `this command ${a.text}. The gateway reads it through the group (sudo chgrp gatehouse ${path} && sudo chmod 640 ${path}, as install.sh makes it); ` +
    `an operator runs the command with sudo${group}; the admin commands (status, streams, rules...) ` +
    'also take --admin URL with --token or GATEHOUSE_ADMIN_TOKEN instead of --config'
  );
}

export async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw ERRORS.GH_CONFIG_READ(
      { what: 'config file', file: path, reason: fileErrorReason(err) },
      {
        where: path,
        hint: (err as NodeJS.ErrnoException).code === 'EACCES' ? unreadableConfigHint(path) : 'check the path and the file permissions',
        cause: err,
      },
    );
  }
  return parseConfigText(text, path) ?? {};
}
