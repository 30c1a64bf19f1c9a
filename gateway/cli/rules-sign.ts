// `gatehouse rules sign` and `gatehouse rules keygen` (the signing itself: control/signing.ts).
//
// `sign` wraps a rule set (or a rollback) in an update document (document.ts) bound to its
// targets, a version and an expiry, and signs the document's exact bytes.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { GatehouseError } from '../../core/errors.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { parseDuration } from '../store/options.js';
import { buildUpdateDocument } from '../control/document.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../control/signing.js';
import { compileRuleSet } from '../../rules/index.js';
import { buildActionRegistry } from '../pipeline/actions/index.js';
import { allDestinationKinds } from '../upstream/registry.js';

const USAGE =
  'gatehouse rules sign FILE --key PREFIX.key --targets ID[,ID...|*] [--version N] [--expires-in 7d] [--key-id ID] [--out ENVELOPE.json]\n' +
  '       gatehouse rules sign --rollback-to VERSION --version N --targets ID[,ID...|*] --key PREFIX.key [--expires-in 7d] [--out ENVELOPE.json]';

const HELP = `usage: ${USAGE}
Prints (or writes) the signed update envelope to publish on <prefix>/<id>/rules/set (or PUT to /api/rules).
--key          the private key file (PREFIX.key of 'gatehouse rules keygen'; the gateways hold PREFIX.pub in control.publicKeys)
--targets      gateway ids or control.groups names the update is for, or '*' for every gateway that trusts the key
--version      document version; must be above the highest the gateway ever accepted (default: the rule set's version)
--expires-in   how long the document may be applied (default 7d)
--rollback-to  a rollback to the gateway's last good rule set, which must have this version
--key-id       a name for the key, put in the envelope (keyId) and named when a gateway refuses the signature; a gateway tries each key of control.publicKeys whatever it says
--out          write the envelope to this file instead of stdout`;

function arg(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new GatehouseError('GH_ARG_INVALID', `--${name} is required`, { hint: USAGE });
  return value;
}

/** A file the user named: one that cannot be read is an argument error saying which and why. */
async function readInput(path: string, what: string, hint: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${e.message}`;
    throw new GatehouseError('GH_ARG_INVALID', `${what} ${why}`, { hint });
  }
}

function intArg(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new GatehouseError('GH_ARG_INVALID', `--${name} must be a non-negative integer, got '${value}'`, { hint: USAGE });
  return n;
}

export async function runRulesSign(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(
    argv,
    {
      key: { type: 'string' },
      'key-id': { type: 'string' },
      out: { type: 'string' },
      targets: { type: 'string' },
      version: { type: 'string' },
      'expires-in': { type: 'string' },
      'rollback-to': { type: 'string' },
      rollback: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
    true,
  );
  if (values.help) {
    writeLine(io.stdout, HELP);
    return 0;
  }
  if (values.rollback !== undefined) {
    throw new GatehouseError('GH_ARG_INVALID', '--rollback GATEWAY_ID made a replayable command and is gone', {
      hint: 'use --rollback-to VERSION --version N --targets GATEWAY_ID',
    });
  }
  const file = positionals[0];
  const rollbackTo = values['rollback-to'];
  if ((file === undefined) === (rollbackTo === undefined))
    throw new GatehouseError('GH_ARG_INVALID', 'expected a rule set FILE or --rollback-to VERSION (one of them)', { hint: USAGE });
  const keyFile = arg('key', values.key);
  const key = await readInput(keyFile, `--key ${keyFile}`, 'give the .key file written by `gatehouse rules keygen --out PREFIX`');
  if (/-----BEGIN PUBLIC KEY-----/.test(key) && !/PRIVATE KEY-----/.test(key))
    throw new GatehouseError('GH_ARG_INVALID', `--key ${keyFile} holds a public key: signing needs the private half`, {
      hint: "give the .key file written by `gatehouse rules keygen` (the .pub goes into the gateways' control.publicKeys)",
    });
  const targets = arg('targets', values.targets)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // Signed, a document for no gateway is refused by every one of them: say so here.
  if (targets.length === 0)
    throw new GatehouseError('GH_ARG_INVALID', `--targets '${values.targets}' names no gateway`, {
      hint: "give gateway ids or control.groups names separated by commas, or '*' for every gateway that trusts the key",
    });
  let expiresInMs: number;
  try {
    expiresInMs = parseDuration(values['expires-in'] ?? '7d');
  } catch (err) {
    throw new GatehouseError('GH_ARG_INVALID', `--expires-in: ${(err as Error).message}`, { hint: USAGE });
  }
  const now = new Date();
  let bytes: Buffer;
  if (file !== undefined) {
    const text = await readInput(file, file, 'give the path of a rule set file ({ version, rules: [...] })');
    let ruleSet: unknown;
    try {
      ruleSet = parseYaml(text);
    } catch (err) {
      throw new GatehouseError('GH_ARG_INVALID', `${file} is not JSON/YAML: ${(err as Error).message}`, { hint: 'give a rule set file' });
    }
    if (typeof ruleSet !== 'object' || ruleSet === null || Array.isArray(ruleSet))
      throw new GatehouseError('GH_ARG_INVALID', `${file} does not hold a rule set object`, { hint: 'give a rule set file: { version, rules: [...] }' });
    // a config-style file with the set under `rules:` is accepted too
    const set =
      (ruleSet as { rules?: unknown }).rules && !Array.isArray((ruleSet as { rules?: unknown }).rules)
        ? (ruleSet as { rules: Record<string, unknown> }).rules
        : (ruleSet as Record<string, unknown>);
    const fileVersion = typeof set.version === 'number' ? set.version : undefined;
    const version = values.version !== undefined ? intArg('version', values.version) : fileVersion;
    if (version === undefined) throw new GatehouseError('GH_ARG_INVALID', `${file} has no version: give --version N`, { hint: USAGE });
    // Every gateway refuses a signed `force` (a captured document must not force a downgrade).
    if (set.force !== undefined)
      throw new GatehouseError('GH_ARG_INVALID', `${file} has 'force': a signed update cannot force a version (every gateway refuses it)`, {
        hint: 'remove force and sign with a version above the one the gateways accepted last; to go back, sign a rollback (--rollback-to V --version N)',
      });
    // A signed set that does not compile would be refused by every gateway, and its document
    // version would be spent (a gateway accepts no version twice): check it here first, as
    // `rules check` does (streams and links are the gateway's to check). With the version the
    // document gives it (--version fills in a file without one).
    compileRuleSet({ ...set, version }, buildActionRegistry({ mode: 'inert', destinations: allDestinationKinds }), { source: file });
    bytes = buildUpdateDocument({ targets, version, issuedAt: now, expiresAt: new Date(now.getTime() + expiresInMs), ruleSet: set });
  } else {
    const version = intArg('version', arg('version', values.version));
    bytes = buildUpdateDocument({
      targets,
      version,
      issuedAt: now,
      expiresAt: new Date(now.getTime() + expiresInMs),
      rollbackTo: intArg('rollback-to', rollbackTo!),
    });
  }
  const envelope = makeEnvelope(bytes, signRuleSetBytes(bytes, key), values['key-id']);
  if (values.out) await writeFile(values.out, `${envelope}\n`);
  else writeLine(io.stdout, envelope);
  return 0;
}

export async function runRulesKeygen(argv: string[], io: CliIO): Promise<number> {
  const usage = 'gatehouse rules keygen --out PREFIX [--force]';
  const { values } = parseCliArgs(argv, { out: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, usage);
  if (values.help || !values.out) {
    writeLine(
      values.help ? io.stdout : io.stderr,
      `usage: ${usage}\nWrites PREFIX.key (ed25519 private key, keep it in the office) and PREFIX.pub (put it in control.publicKeys).\nRefuses to replace existing files unless --force: gateways that trust the old key would refuse everything signed with a new one.`,
    );
    return values.help ? 0 : 2;
  }
  const { privateKeyPem, publicKeyPem } = generateSigningKeys();
  // 'wx': fail if the file exists (checked by the open itself); both are looked at first so that
  // an existing .pub does not leave a new .key beside it.
  const flag = values.force ? 'w' : 'wx';
  try {
    if (!values.force) {
      for (const f of [`${values.out}.key`, `${values.out}.pub`]) {
        if (existsSync(f)) throw Object.assign(new Error(`${f} exists`), { code: 'EEXIST', path: f });
      }
    }
    await writeFile(`${values.out}.key`, privateKeyPem, { mode: 0o600, flag });
    await writeFile(`${values.out}.pub`, publicKeyPem, { flag });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new GatehouseError('GH_ARG_INVALID', `${(err as NodeJS.ErrnoException).path ?? values.out} exists: not replacing a signing key`, {
      hint: 'gateways trust the existing key (control.publicKeys); pick another --out, or give --force to replace it and then update every gateway',
    });
  }
  writeLine(io.stdout, `wrote ${values.out}.key and ${values.out}.pub`);
  return 0;
}
