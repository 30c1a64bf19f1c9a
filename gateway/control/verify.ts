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
import { ERRORS, GatehouseError } from '../../core/errors.js';
import { counter } from '../../core/metrics.js';
import { loadPublicKeys, parseEnvelope, verifyEnvelope, type RuleSetEnvelope } from './signing.js';

export type UpdateOrigin = 'remote' | 'admin';
/** What the payload asks for: a rule set (update) or a return to the last good set (rollback). */
export type UpdateKind = 'update' | 'rollback';

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
  /**
   * Unwrap an envelope (or a bare document) and apply the policy; throws GH_RULESET_SIGNATURE,
   * whose message names what was refused (`kind`, default update: "unsigned remote rollback refused: ...").
   */
  unwrap(payload: Buffer, origin: UpdateOrigin, kind?: UpdateKind): VerifiedUpdate;
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
  const refuse = (what: string, reason: string, hint: string): never => {
    failures.inc();
    throw ERRORS.GH_RULESET_SIGNATURE({ what, reason }, { hint });
  };
  /** The command that signs what was refused, as the office runs it. */
  const signCommand = (kind: UpdateKind): string =>
    kind === 'rollback'
      ? '`gatehouse rules sign --rollback-to V --version N --targets ID --key KEY` (V: the lastGoodVersion of the rule status, N: above its acceptedVersion)'
      : '`gatehouse rules sign FILE --key KEY --targets ID`';
  return {
    get hasKeys() {
      return keys.length > 0;
    },
    reconfigure(next) {
      keys = loadPublicKeys(resolvePemList(next.publicKeys));
      opts = next;
    },
    unwrap(payload, origin, kind = 'update') {
      const what = origin === 'remote' ? `remote ${kind}` : kind;
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
              `signed ${what}`,
              'no control.publicKeys are configured to verify its signature',
              "add the signer's public key to control.publicKeys in the gateway config",
            );
          }
          return { bytes: env.bytes, signed: false, keyId: env.keyId };
        }
        if (!verifyEnvelope(env, keys)) {
          refuse(
            what,
            `its signature does not verify${env.keyId ? ` (keyId ${env.keyId})` : ''} against any of the ${keys.length} configured public key(s)`,
            `sign it with ${signCommand(kind)} using a key whose public half is in control.publicKeys`,
          );
        }
        return { bytes: env.bytes, signed: true, keyId: env.keyId };
      }
      if (origin === 'remote') {
        if (keys.length > 0)
          refuse(
            `unsigned ${what}`,
            'control.publicKeys are configured, so every remote update and rollback must be signed',
            `publish the envelope made by ${signCommand(kind)}`,
          );
        if (!opts.allowUnsigned) {
          // docs/remote-control.md: a remote rollback is bound by the signature policy of updates
          // (an unsigned one could be sent by anyone who may publish there); a local one is not.
          refuse(
            `unsigned ${what}`,
            kind === 'rollback'
              ? 'remote rollbacks need a signature, as remote updates do, and this gateway has no control.publicKeys to verify one (control.allowUnsigned is false)'
              : 'remote updates are disabled: no control.publicKeys are configured to verify a signature and control.allowUnsigned is false',
            kind === 'rollback'
              ? `roll back on the gateway itself (\`gatehouse rules rollback\`, or POST /api/rules/rollback: no signature needed); or configure control.publicKeys and publish the rollback made by ${signCommand(kind)}; or set control.allowUnsigned: true on a trusted network`
              : `configure control.publicKeys and sign updates (${signCommand(kind)}), or set control.allowUnsigned: true on a trusted network`,
          );
        }
      } else if (keys.length > 0 && opts.requireSignedAdmin) {
        refuse(`unsigned ${what}`, 'control.requireSignedAdmin is set', `send the envelope made by ${signCommand(kind)}`);
      }
      return { bytes: env.bytes, signed: false, keyId: undefined };
    },
  };
}

/** Policy used when no control options are given (tests, tools): admin accepts unsigned, remote refuses. */
export function defaultVerifier(registry: Registry): UpdateVerifier {
  return createUpdateVerifier({ publicKeys: [], allowUnsigned: false, requireSignedAdmin: false }, registry);
}
