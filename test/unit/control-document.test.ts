// The signed update document: shape checks, the binding policy (target, expiry, monotonic
// version), and `gatehouse rules sign` producing documents the gateway accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { DocumentRefused, buildUpdateDocument, checkBinding, parseUpdateDocument } from '../../gateway/control/document.js';
import { runRulesSign } from '../../gateway/cli/rules-sign.js';
import { generateSigningKeys, parseEnvelope, verifyEnvelope, loadPublicKeys } from '../../gateway/control/signing.js';
import { tempDir } from '../helpers/index.js';
import { isGatehouseError } from '../../core/errors.js';

const hour = 3600_000;
const ctx = { gatewayId: 'depot-7', groups: ['depot'], acceptedVersion: 4, now: Date.parse('2026-12-02T12:00:00Z') };
const doc = (o: Partial<{ targets: string[]; version: number; expiresAt: Date; rollbackTo: number }> = {}): Buffer =>
  buildUpdateDocument({
    targets: o.targets ?? ['depot-7'],
    version: o.version ?? 5,
    issuedAt: new Date(ctx.now),
    expiresAt: o.expiresAt ?? new Date(ctx.now + hour),
    ...(o.rollbackTo !== undefined ? { rollbackTo: o.rollbackTo } : { ruleSet: { rules: [] } }),
  });
const refusedFor = (reason: string) => (err: unknown) => err instanceof DocumentRefused && err.reason === reason;

test('binding: target by id, group or *; expiry; the version must exceed the accepted one', () => {
  for (const targets of [['depot-7'], ['depot'], ['*'], ['x', 'depot-7']]) checkBinding(parseUpdateDocument(doc({ targets })), ctx);
  assert.throws(() => checkBinding(parseUpdateDocument(doc({ targets: ['depot-8'] })), ctx), refusedFor('target'));
  assert.throws(() => checkBinding(parseUpdateDocument(doc({ expiresAt: new Date(ctx.now - 1) })), ctx), refusedFor('expired'));
  // A gateway whose clock runs ahead refuses documents that have not expired: its clock is named.
  assert.throws(
    () => checkBinding(parseUpdateDocument(doc({ expiresAt: new Date(ctx.now - 1) })), ctx),
    (err: unknown) => err instanceof DocumentRefused && /this gateway's clock reads 2026-12-02T12:00:00\.000Z/.test(err.message) && /NTP/.test(err.hint),
  );
  assert.throws(() => checkBinding(parseUpdateDocument(doc({ version: 4 })), ctx), refusedFor('replay'));
  // The catalogue's messages of GH_CONTROL_DOCUMENT and GH_CONTROL_REPLAY (docs/errors.md), the code first.
  const says = (message: string) => (err: unknown) => err instanceof DocumentRefused && err.message === message;
  assert.throws(
    () => checkBinding(parseUpdateDocument(doc({ targets: ['depot-8'] })), ctx),
    says('GH_CONTROL_DOCUMENT: update document refused: it targets ["depot-8"], not this gateway (depot-7, groups depot)'),
  );
  assert.throws(
    () => checkBinding(parseUpdateDocument(doc({ version: 4 })), ctx),
    says('GH_CONTROL_REPLAY: update document version 4 is not above the highest accepted version 4 (a replayed or older update)'),
  );
  assert.throws(
    () => parseUpdateDocument(Buffer.from('not json')),
    (err: unknown) =>
      says('GH_CONTROL_DOCUMENT: update document refused: the signed document is not JSON')(err) && /gatehouse rules sign/.test((err as DocumentRefused).hint),
  );
  assert.throws(() => checkBinding(parseUpdateDocument(doc({ version: 1, rollbackTo: 1 })), ctx), refusedFor('replay'));
  const d = parseUpdateDocument(doc({ version: 6, rollbackTo: 3 }));
  assert.deepEqual(d.rollback, { toVersion: 3 });
  assert.equal(parseUpdateDocument(doc()).ruleSet?.version, 5, 'the rule set carries the document version');
});

test('malformed documents are refused with a reason, never thrown as anything else', () => {
  const bad = [
    'not json',
    '{"version":1,"rules":[]}',
    '{"gatehouse":"rules-update/9","targets":["a"],"version":1,"expiresAt":"2030-01-01T00:00:00Z","ruleSet":{}}',
    '{"gatehouse":"rules-update/1","targets":[],"version":1,"expiresAt":"2030-01-01T00:00:00Z","ruleSet":{}}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":-1,"expiresAt":"2030-01-01T00:00:00Z","ruleSet":{}}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":1,"expiresAt":"soon","ruleSet":{}}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":1,"expiresAt":"2030-01-01T00:00:00Z"}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":1,"expiresAt":"2030-01-01T00:00:00Z","ruleSet":{"version":2}}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":1,"expiresAt":"2030-01-01T00:00:00Z","ruleSet":{"force":true}}',
    '{"gatehouse":"rules-update/1","targets":["a"],"version":1,"expiresAt":"2030-01-01T00:00:00Z","rollback":{}}',
  ];
  for (const b of bad) assert.throws(() => parseUpdateDocument(Buffer.from(b)), refusedFor('malformed'), b);
});

test('gatehouse rules sign makes a verifiable document with targets, version and expiry', async (t) => {
  const dir = await tempDir(t);
  const keys = generateSigningKeys();
  await writeFile(join(dir, 'k.key'), keys.privateKeyPem);
  await writeFile(join(dir, 'rules.yaml'), 'version: 7\nrules: []\n');
  const run = async (argv: string[]): Promise<string> => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    assert.equal(await runRulesSign(argv, { stdout, stderr: new PassThrough() }), 0);
    return out;
  };
  const env = parseEnvelope(Buffer.from(await run([join(dir, 'rules.yaml'), '--key', join(dir, 'k.key'), '--targets', 'depot-7,depot', '--expires-in', '2h'])));
  assert.ok(verifyEnvelope(env, loadPublicKeys([keys.publicKeyPem])));
  const d = parseUpdateDocument(env.bytes);
  assert.deepEqual(d.targets, ['depot-7', 'depot']);
  assert.equal(d.version, 7);
  const ttl = Date.parse(d.expiresAt) - Date.now();
  assert.ok(ttl > 1.9 * hour && ttl <= 2 * hour, `expires in 2h (${ttl} ms)`);

  const rb = parseUpdateDocument(
    parseEnvelope(Buffer.from(await run(['--rollback-to', '6', '--version', '8', '--targets', '*', '--key', join(dir, 'k.key')]))).bytes,
  );
  assert.deepEqual(rb.rollback, { toVersion: 6 });
  assert.equal(rb.version, 8);

  await assert.rejects(
    runRulesSign([join(dir, 'rules.yaml'), '--key', join(dir, 'k.key')], { stdout: new PassThrough(), stderr: new PassThrough() }),
    (err: unknown) => isGatehouseError(err, 'GH_ARG_INVALID') && /--targets/.test((err as Error).message),
  );
  await assert.rejects(
    runRulesSign(['--rollback', 'gw', '--key', join(dir, 'k.key')], { stdout: new PassThrough(), stderr: new PassThrough() }),
    (err: unknown) => isGatehouseError(err, 'GH_ARG_INVALID'),
  );
});

test('rules keygen never replaces a signing key without --force; sign refuses a public key and a set that does not compile', async (t) => {
  const dir = await tempDir(t);
  const { runRulesKeygen } = await import('../../gateway/cli/rules-sign.js');
  const { readFile } = await import('node:fs/promises');
  const io = (): { io: { stdout: PassThrough; stderr: PassThrough } } => ({ io: { stdout: new PassThrough(), stderr: new PassThrough() } });
  const prefix = join(dir, 'ops');
  assert.equal(await runRulesKeygen(['--out', prefix], io().io), 0);
  const first = await readFile(`${prefix}.key`, 'utf8');
  // A second keygen would lock every gateway that trusts the first key out of signed updates.
  await assert.rejects(runRulesKeygen(['--out', prefix], io().io), (err: unknown) => isGatehouseError(err) && /exists: not replacing/.test(err.message));
  assert.equal(await readFile(`${prefix}.key`, 'utf8'), first);
  assert.equal(await runRulesKeygen(['--out', prefix, '--force'], io().io), 0);
  assert.notEqual(await readFile(`${prefix}.key`, 'utf8'), first);

  const set = join(dir, 'rules.yaml');
  await writeFile(set, 'version: 5\nrules: [{ name: r, sql: "SELECT * FROM \'a\'", actions: [{ republish: { topic: b } }] }]\n');
  await assert.rejects(
    runRulesSign([set, '--key', `${prefix}.pub`, '--targets', 'depot-7'], io().io),
    (err: unknown) => isGatehouseError(err) && err.code === 'GH_ARG_INVALID' && /holds a public key/.test(err.message),
  );
  await writeFile(set, 'version: 5\nrules: [{ name: r, sql: "SELECT * FROM", actions: [{ republish: { topic: b } }] }]\n');
  await assert.rejects(
    runRulesSign([set, '--key', `${prefix}.key`, '--targets', 'depot-7'], io().io),
    (err: unknown) => isGatehouseError(err) && err.code === 'GH_RULESET_INVALID' && /end of statement/.test(err.message),
  );
});
