// The error catalogue (core/error-catalogue.ts) against the code and the docs: docs/errors.md is exactly what
// the generator prints, every catalogued code is used by the source (or marked reserved with a
// reason), and every GH_ code the source names is catalogued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ERROR_CATALOGUE, ERRORS, createError, isGatehouseError, type ErrorSpec } from '../../core/errors.js';
import { errorsDocsMarkdown } from '../../gateway/cli/errors-cmd.js';
import { repoRoot } from '../helpers/index.js';

/** Runtime sources (tests excluded: a test naming a code proves nothing about the runtime). */
const SOURCE_DIRS = ['core', 'gateway', 'rules', 'firmware-bridge', 'bin'];
/** The catalogue and its sections (core/error-catalogue.ts, core/error-catalogue-<part>.ts): where the codes are defined, not used. */
const CATALOGUE_FILE = /^core[\\/]error-catalogue(-[a-z]+)?\.ts$/;

async function sourceFiles(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await sourceFiles(p, out);
    else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

async function codesUsedInSource(): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  for (const d of SOURCE_DIRS) {
    for (const file of await sourceFiles(join(repoRoot, d))) {
      const rel = relative(repoRoot, file);
      if (CATALOGUE_FILE.test(rel)) continue;
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/\bGH_[A-Z0-9_]+\b/g)) used.set(m[0], [...(used.get(m[0]) ?? []), rel]);
    }
  }
  return used;
}

test('docs/errors.md equals the generator output (regenerate: node bin/gatehouse.js errors --markdown > docs/errors.md)', async () => {
  const docs = await readFile(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  assert.equal(docs, errorsDocsMarkdown());
});

test('every catalogued code is used by the runtime source, or marked reserved with a reason', async () => {
  const used = await codesUsedInSource();
  for (const [code, spec] of Object.entries(ERROR_CATALOGUE) as Array<[string, ErrorSpec]>) {
    if (spec.reserved !== undefined) {
      assert.ok(spec.reserved.length > 10, `${code}: say why it is reserved`);
      assert.ok(!used.has(code), `${code} is marked reserved but used in ${used.get(code)?.join(', ')}: drop the mark`);
      continue;
    }
    assert.ok(used.has(code), `${code} is never used outside core/error-catalogue.ts: throw it where it happens, remove it, or mark it reserved with a reason`);
  }
});

test('every GH_ code named in the runtime source is in the catalogue', async () => {
  const used = await codesUsedInSource();
  const unknown = [...used.keys()].filter((c) => !(c in ERROR_CATALOGUE));
  assert.deepEqual(unknown, [], `not in core/error-catalogue.ts: ${unknown.map((c) => `${c} (${used.get(c)!.join(', ')})`).join('; ')}`);
});

test('the codes moved to the catalogue constructors are not built by hand again (their message would drift from docs/errors.md)', async () => {
  const moved = [
    'GH_ADMIN_UNAUTHORIZED',
    'GH_STREAM_UNKNOWN',
    'GH_RECORD_TOO_LARGE',
    'GH_STORE_OPEN',
    'GH_CONFIG_READ',
    // docs/errors.md listed '{what} listens on {host} without authentication' and 'cannot load TLS
    // files of {listener}: ...', while start and check-config printed their own words
    'GH_CONFIG_INSECURE',
    'GH_BROKER_TLS',
    'GH_ADMIN_TLS',
    // printed 'unclosed ${ in template ...', 'republish topic rendered to an invalid topic ...':
    // worded by each site instead of docs/errors.md's template
    'GH_TEMPLATE_INVALID',
    'GH_ACTION_FAILED',
    // 'request body of N bytes exceeds the limit of L' or 'request body exceeds the limit of L bytes'
    'GH_ADMIN_TOO_LARGE',
    // 'unsigned remote update refused: ...' for a refused rollback too, 'signature does not verify ...'
    'GH_RULESET_SIGNATURE',
    // 'no local stream named ...' / 'no route ...' for '{what} not found'; the rest printed the
    // catalogue's words already, by hand
    'GH_ADMIN_NOT_FOUND',
    'GH_ADMIN_LISTEN',
    'GH_RULESET_STALE',
    'GH_RULESET_NO_ROLLBACK',
    // 'GH_CONTROL_DOCUMENT: the update targets ...' written out as text, not through the catalogue
    'GH_CONTROL_DOCUMENT',
    'GH_CONTROL_REPLAY',
    // '{reason}': the same words, now with the catalogue's hint where the site gave none
    'GH_ADMIN_BAD_REQUEST',
    'GH_CONTROL_CHANNEL',
    'GH_JOB_FAILED',
    // '{reason}' (the parser's words, the position in where): a refusal without a fix of its own
    // printed none, now the catalogue's
    'GH_SQL_SYNTAX',
    'GH_SQL_SEMANTIC',
    // '{source} has {count} error(s)' listed; printed '... has 1 error' or a single line of its own
    // ('rule set file is not valid YAML/JSON: ...'): now always the list, of one where one
    'GH_RULESET_INVALID',
    // '{reason}': the same words (each site names the detector, the param and what is allowed)
    'GH_DETECTOR_PARAM',
    // docs/errors.md listed 'corrupt data in {where}: ...'; the sites printed 'detector snapshot is
    // corrupt: ...', 'window state of rule r is not valid JSON', ... and logged 'GH_STORE_CORRUPT: ...'
    'GH_STORE_CORRUPT',
    // 'the store refuses data appends: {reason}' listed; the open and the wait printed 'cannot open
    // the store database: ...', 'the gateway is not started yet: ...'
    'GH_STORE_DISK_FULL',
    // "local stream 's' is full (... bytes held, 0 pending) for 50 ms" beside the catalogue's
    // template; the stop's refusal named no stream
    'GH_STREAM_FULL',
    // 'the local stream store is {state}', written out by hand
    'GH_STORE_CLOSED',
    // '{reason}' listed: the codecs' words did not name the codec ('frame has 7 bytes, expected 8')
    'GH_CODEC_INVALID',
    // 'serial port is not open' beside 'serial link {state}'; 'N ACK/NAK replies pending' beside
    // '{pending} writes pending'; the stop's refusal without a fix
    'GH_SERIAL_NOT_OPEN',
    'GH_SERIAL_QUEUE_FULL',
    'GH_SERIAL_OPEN',
    'GH_SERIAL_LINK_UNKNOWN',
    // a control payload over broker.maxPayloadBytes was written out as 'GH_PAYLOAD_TOO_LARGE: control
    // payload of N bytes exceeds broker.maxPayloadBytes ...', without the limit
    'GH_PAYLOAD_TOO_LARGE',
    'GH_BROKER_LISTEN',
    // '{source} is invalid ({count}):' listed; a missing JetStream stream, an unknown template field
    // and AWS IoT's options in an action said it on a line of their own
    'GH_DESTINATION_CONFIG',
  ];
  const byHand = new RegExp(`new (GatehouseError|HttpError)\\(\\s*(\\d+,\\s*)?'(${moved.join('|')})'`);
  // ...nor written out as the text describe() prints ('GH_X: message. Fix: ...').
  const asText = new RegExp(`[\`'"](${moved.join('|')}): `);
  const found: string[] = [];
  for (const d of SOURCE_DIRS) {
    for (const file of await sourceFiles(join(repoRoot, d))) {
      const text = await readFile(file, 'utf8');
      const m = byHand.exec(text);
      if (m) found.push(`${relative(repoRoot, file)}: ${m[3]}`);
      const t = asText.exec(text);
      if (t) found.push(`${relative(repoRoot, file)}: ${t[1]} as text`);
    }
  }
  assert.deepEqual(found, [], 'use ERRORS.GH_...(params, { where, hint })');
});

test('a catalogue constructor fills the message template and the default hint; the hint can be overridden', () => {
  const err = ERRORS.GH_STREAM_UNKNOWN({ stream: 'telemetry' }, { where: 'rules.r1' });
  assert.ok(isGatehouseError(err, 'GH_STREAM_UNKNOWN'));
  assert.equal(err.message, "local stream 'telemetry' is not defined");
  assert.equal(err.hint, ERROR_CATALOGUE.GH_STREAM_UNKNOWN.hint);
  assert.equal(err.describe(), `GH_STREAM_UNKNOWN: local stream 'telemetry' is not defined (at rules.r1). Fix: ${ERROR_CATALOGUE.GH_STREAM_UNKNOWN.hint}`);
  const own = createError('GH_PAYLOAD_TOO_LARGE', { bytes: 300, maxPayloadBytes: 256 }, { hint: 'send less' });
  assert.equal(own.message, 'payload of 300 bytes exceeds maxPayloadBytes 256');
  assert.equal(own.hint, 'send less');
  assert.deepEqual(own.toJSON(), { code: 'GH_PAYLOAD_TOO_LARGE', message: own.message, where: undefined, hint: 'send less', details: undefined });
});

test('codes are grouped contiguously (a new code goes at the end of its group)', () => {
  const groups = (Object.values(ERROR_CATALOGUE) as ErrorSpec[]).map((s) => s.group);
  const seen = new Set<string>();
  for (let i = 0; i < groups.length; i++) {
    if (i > 0 && groups[i] !== groups[i - 1]) assert.ok(!seen.has(groups[i]!), `group '${groups[i]}' appears twice`);
    seen.add(groups[i]!);
  }
});
