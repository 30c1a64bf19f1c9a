// Signed rule set updates: ed25519 over the exact bytes of the rule set document.
//
// Envelope (what is published to gatehouse/{id}/rules/set, or PUT to /api/rules):
//   { "ruleSet": "<base64 of the rule set file, YAML or JSON>", "signature": "<base64 ed25519 signature of those bytes>", "keyId": "optional" }
// Unsigned updates are either that envelope without signature, or the rule set document itself.
import { createPrivateKey, createPublicKey, sign, verify, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ERRORS, GatehouseError } from '../../core/errors.js';

export interface RuleSetEnvelope {
  /** Exact bytes of the rule set document. */
  bytes: Buffer;
  signature: Buffer | undefined;
  keyId: string | undefined;
}

export function signRuleSetBytes(bytes: Buffer, privateKeyPem: string): Buffer {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw ERRORS.GH_RULESET_SIGNATURE(
      { what: 'signing key', reason: `it is ${key.asymmetricKeyType}, not ed25519` },
      {
        hint: 'make one with `gatehouse rules keygen` or `openssl genpkey -algorithm ed25519`',
      },
    );
  return sign(null, bytes, key);
}

export function makeEnvelope(bytes: Buffer, signature: Buffer, keyId?: string): string {
  return JSON.stringify({ ruleSet: bytes.toString('base64'), signature: signature.toString('base64'), ...(keyId ? { keyId } : {}) });
}

export function loadPublicKeys(pems: readonly string[]): KeyObject[] {
  return pems.map((pem, i) => {
    // createPublicKey derives the public half of a private key without a word: the gateway would
    // verify, and the key that can sign every gateway's rules would sit on each of them.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new GatehouseError('GH_CONFIG_INVALID', `control.publicKeys[${i}] is a private key: a gateway needs only the public half`, {
        where: `control.publicKeys.${i}`,
        hint: 'give the .pub file written by `gatehouse rules keygen` (or `openssl pkey -in key.pem -pubout`); keep the .key in the office, and treat this one as exposed',
      });
    }
    try {
      const k = createPublicKey(pem);
      if (k.asymmetricKeyType !== 'ed25519') throw new Error(`key type ${k.asymmetricKeyType}`);
      return k;
    } catch (err) {
      throw new GatehouseError('GH_CONFIG_INVALID', `control.publicKeys[${i}] is not an ed25519 public key in PEM: ${(err as Error).message}`, {
        where: `control.publicKeys.${i}`,
        hint: 'paste the output of `openssl pkey -in key.pem -pubout` (or gatehouse rules keygen)',
      });
    }
  });
}

/** Split an update payload into the rule set bytes and its signature (if any). */
export function parseEnvelope(payload: Buffer): RuleSetEnvelope {
  const text = payload.toString('utf8').trim();
  if (text.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      obj = undefined;
    }
    if (obj && typeof obj === 'object' && typeof (obj as { ruleSet?: unknown }).ruleSet === 'string') {
      const e = obj as { ruleSet: string; signature?: unknown; keyId?: unknown };
      if (e.signature !== undefined && typeof e.signature !== 'string')
        throw ERRORS.GH_RULESET_SIGNATURE(
          { what: 'envelope', reason: `its "signature" must be a base64 string (found ${typeof e.signature})` },
          {
            hint: 'publish the envelope exactly as `gatehouse rules sign FILE --key KEY --targets ID` writes it',
          },
        );
      return {
        bytes: Buffer.from(e.ruleSet, 'base64'),
        signature: typeof e.signature === 'string' ? Buffer.from(e.signature, 'base64') : undefined,
        keyId: typeof e.keyId === 'string' ? e.keyId : undefined,
      };
    }
  }
  return { bytes: payload, signature: undefined, keyId: undefined };
}

/** True when any of the keys verifies the signature over bytes. */
export function verifyEnvelope(env: RuleSetEnvelope, keys: readonly KeyObject[]): boolean {
  if (env.signature?.length !== 64) return false;
  return keys.some((k) => verify(null, env.bytes, k, env.signature!));
}

export function generateSigningKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
