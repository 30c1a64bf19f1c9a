// The signature policy for rule set updates, shared by the remote channel, the admin API and the CLI.
//
//   remote (MQTT):  with publicKeys -> a valid signature is required;
//                   without keys    -> refused unless control.allowUnsigned.
//   admin / CLI:    a signature, when present, must verify; required only with publicKeys and
//                   control.requireSignedAdmin.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Counter, Registry } from 'prom-client';
import { GatehouseError } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import { loadPublicKeys, parseEnvelope, verifyEnvelope, type RuleSetEnvelope } from './signing.js';

export type UpdateOrigin = 'remote' | 'admin';

export interface VerifierOptions {
  publicKeys: readonly string[];
  allowUnsigned: boolean;
  requireSignedAdmin: boolean;
}

export interface VerifiedUpdate {
  /** The exact bytes of the rule set (or command) document. */
  bytes: Buffer;
  /** True when a configured key verified the signature. */
  signed: boolean;
  keyId: string | undefined;
}

export interface UpdateVerifier {
  readonly hasKeys: boolean;
  /** Unwrap an envelope (or a bare document) and apply the policy; throws GH_RULESET_SIGNATURE. */
  unwrap(payload: Buffer, origin: UpdateOrigin): VerifiedUpdate;
  /**
   * Take another policy (a reload: a key rotated in or retired). The keys are read and checked
   * first: one that does not load throws (GH_CONFIG_INVALID naming the entry) and the policy in
   * force stays.
   */
  reconfigure(opts: VerifierOptions): void;
}

/** A PEM text is used as is; anything else is a file path holding one. */
export function resolvePemList(entries: readonly string[], baseDir = process.cwd()): string[] {
  return entries.map((e, i) => {
    if (e.includes('-----BEGIN')) return e;
    try {
      return readFileSync(resolve(baseDir, e), 'utf8');
    } catch (err) {
      throw new GatehouseError('GH_CONFIG_INVALID', `control.publicKeys[${i}]: cannot read key file '${e}': ${(err as Error).message}`, {
        where: `control.publicKeys.${i}`,
        hint: 'give the PEM text itself or the path of a readable .pub file (gatehouse rules keygen)',
      });
    }
  });
}

function signatureFailures(registry: Registry): Counter {
  return counter(registry, 'gatehouse_control_signature_failures_total', 'Rule set updates refused for a missing or invalid signature');
}

export function createUpdateVerifier(initial: VerifierOptions, registry: Registry): UpdateVerifier {
  let opts = initial;
  let keys: KeyObject[] = loadPublicKeys(resolvePemList(opts.publicKeys));
  const failures = signatureFailures(registry);
  const refuse = (message: string, hint: string): never => {
    failures.inc();
    throw new GatehouseError('GH_RULESET_SIGNATURE', message, { hint });
  };
  return {
    get hasKeys() {
      return keys.length > 0;
    },
    reconfigure(next) {
      keys = loadPublicKeys(resolvePemList(next.publicKeys));
      opts = next;
    },
    unwrap(payload, origin) {
      let env: RuleSetEnvelope;
      try {
        env = parseEnvelope(payload);
      } catch (err) {
        failures.inc();
        throw err;
      }
      if (env.signature) {
        if (keys.length === 0) {
          // A signature we cannot check is no reason to trust the update, nor to refuse it when unsigned ones are allowed.
          if (origin === 'remote' && !opts.allowUnsigned) {
            refuse(
              'signed update received but no control.publicKeys are configured to verify it',
              "add the signer's public key to control.publicKeys in the gateway config",
            );
          }
          return { bytes: env.bytes, signed: false, keyId: env.keyId };
        }
        if (!verifyEnvelope(env, keys)) {
          refuse(
            `signature does not verify${env.keyId ? ` (keyId ${env.keyId})` : ''} against any of the ${keys.length} configured public key(s)`,
            'sign the exact file bytes with `gatehouse rules sign FILE --key KEY --targets ID` using a key whose public half is in control.publicKeys',
          );
        }
        return { bytes: env.bytes, signed: true, keyId: env.keyId };
      }
      if (origin === 'remote') {
        if (keys.length > 0)
          refuse(
            'unsigned remote update refused: control.publicKeys are configured, so every remote update must be signed',
            'publish the envelope made by `gatehouse rules sign FILE --key KEY --targets ID`',
          );
        if (!opts.allowUnsigned) {
          refuse(
            'unsigned remote update refused: remote updates are disabled',
            'configure control.publicKeys and sign updates (`gatehouse rules sign`), or set control.allowUnsigned: true on a trusted network',
          );
        }
      } else if (keys.length > 0 && opts.requireSignedAdmin) {
        refuse('unsigned update refused: control.requireSignedAdmin is set', 'send the envelope made by `gatehouse rules sign FILE --key KEY --targets ID`');
      }
      return { bytes: env.bytes, signed: false, keyId: undefined };
    },
  };
}

/** Policy used when no control options are given (tests, tools): admin accepts unsigned, remote refuses. */
export function defaultVerifier(registry: Registry): UpdateVerifier {
  return createUpdateVerifier({ publicKeys: [], allowUnsigned: false, requireSignedAdmin: false }, registry);
}
