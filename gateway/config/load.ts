// Reading and validating configuration files (YAML or JSON) against a zod schema.
// Every problem is reported at once: key path, what was expected, what was found.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { GatehouseError } from '../../core/errors.js';
import { lazyPackage } from '../../core/lazy-package.js';
export { formatProblems, validateConfig, zodProblems, type ConfigProblem } from '../../core/validation.js';

// Loaded with the first YAML file: a JSON config file (or none) never pays for the YAML parser.
const yaml = lazyPackage<typeof import('yaml')>('yaml', 'reading YAML configuration files');

/** Parse YAML or JSON text (JSON is valid YAML, but JSON files get JSON's clearer errors). */
export function parseConfigText(text: string, fileName: string): unknown {
  // Loaded outside the try: a missing package is GH_PACKAGE_MISSING, not a syntax error.
  const lib = extname(fileName).toLowerCase() === '.json' ? undefined : yaml();
  try {
    return lib ? lib.parse(text, { prettyErrors: true }) : JSON.parse(text);
  } catch (err) {
    const where = lib && err instanceof lib.YAMLParseError && err.linePos ? `${fileName}:${err.linePos[0].line}:${err.linePos[0].col}` : fileName;
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
