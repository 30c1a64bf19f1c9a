// `gatehouse rules sign FILE --key KEY.pem` and `gatehouse rules keygen` (the signing itself: control/signing.ts).
import { readFile, writeFile } from 'node:fs/promises';
import { GatehouseError } from '../../core/errors.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';
import { generateSigningKeys, makeEnvelope, signRuleSetBytes } from '../control/signing.js';

const USAGE = 'gatehouse rules sign FILE --key PRIVATE_KEY.pem [--key-id ID] [--out ENVELOPE.json]\n       gatehouse rules sign --rollback GATEWAY_ID --key PRIVATE_KEY.pem [--out ENVELOPE.json]';

/** The bytes of a signed rollback command (published to <prefix>/<id>/rules/rollback). */
export function rollbackCommandBytes(gatewayId: string): Buffer {
  return Buffer.from(JSON.stringify({ command: 'rollback', gatewayId }));
}

export async function runRulesSign(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { key: { type: 'string' }, 'key-id': { type: 'string' }, out: { type: 'string' }, rollback: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE, true);
  if (values.help) {
    writeLine(io.stdout, `usage: ${USAGE}\nPrints (or writes) the signed update envelope {ruleSet, signature} to publish on gatehouse/<id>/rules/set or PUT to /api/rules.`);
    return 0;
  }
  const file = positionals[0];
  if ((!file && !values.rollback) || !values.key) throw new GatehouseError('GH_ARG_INVALID', 'expected a rule set FILE (or --rollback GATEWAY_ID) and --key', { hint: USAGE });
  const bytes = values.rollback ? rollbackCommandBytes(values.rollback) : await readFile(file!);
  const signature = signRuleSetBytes(bytes, await readFile(values.key, 'utf8'));
  const envelope = makeEnvelope(bytes, signature, values['key-id']);
  if (values.out) await writeFile(values.out, `${envelope}\n`);
  else writeLine(io.stdout, envelope);
  return 0;
}

export async function runRulesKeygen(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseCliArgs(argv, { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, 'gatehouse rules keygen --out PREFIX');
  if (values.help || !values.out) {
    writeLine(values.help ? io.stdout : io.stderr, 'usage: gatehouse rules keygen --out PREFIX\nWrites PREFIX.key (ed25519 private key, keep it in the office) and PREFIX.pub (put it in control.publicKeys).');
    return values.help ? 0 : 2;
  }
  const { privateKeyPem, publicKeyPem } = generateSigningKeys();
  await writeFile(`${values.out}.key`, privateKeyPem, { mode: 0o600 });
  await writeFile(`${values.out}.pub`, publicKeyPem);
  writeLine(io.stdout, `wrote ${values.out}.key and ${values.out}.pub`);
  return 0;
}
