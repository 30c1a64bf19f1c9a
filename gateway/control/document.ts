// The signed update document: what a signature binds, so a captured update cannot be replayed.
//
//   { "gatehouse": "rules-update/1",
//     "targets": ["depot-7"],            gateway ids or control.groups names, or "*" (all)
//     "version": 7,                      document version: must exceed the highest ever accepted
//     "issuedAt": "2026-12-02T10:00:00Z",
//     "expiresAt": "2026-12-09T10:00:00Z",
//     "ruleSet": { "version": 7, "rules": [...] } }     a rule set (its version = the document's)
//   or, instead of ruleSet,
//     "rollback": { "toVersion": 5 }     back to the last good set, which must be that version
//
// These are the exact bytes under the ed25519 signature (see signing.ts for the envelope), so a
// set signed for one gateway does not apply on another, an old set or rollback is refused by
// version, and a document not used in time expires.
import { ERRORS, GatehouseError, type ErrorCode } from '../../core/errors.js';

export const DOCUMENT_KIND = 'rules-update/1';

export interface UpdateDocument {
  targets: string[];
  version: number;
  issuedAt: string | undefined;
  expiresAt: string;
  /** Exactly one of ruleSet and rollback. */
  ruleSet: Record<string, unknown> | undefined;
  rollback: { toVersion: number } | undefined;
}

/** Why a document is refused: the counter label and the status message prefix. */
export type RefusalReason = 'malformed' | 'target' | 'expired' | 'replay' | 'too-large' | 'busy';

export class DocumentRefused extends Error {
  /** The error code the status reports (the message starts with it). */
  readonly code: ErrorCode;
  readonly hint: string;
  /** error: the catalogue's error (GH_CONTROL_DOCUMENT or GH_CONTROL_REPLAY), its words in docs/errors.md. */
  constructor(
    readonly reason: RefusalReason,
    error: GatehouseError,
  ) {
    super(`${error.code}: ${error.message}`);
    this.code = error.code;
    this.hint = error.hint ?? '';
  }
}

const RESIGN = 'sign it with `gatehouse rules sign FILE --key KEY --targets ID[,ID...] [--expires-in 7d]`';

/** Does the JSON look like an update document (rather than a bare rule set)? */
export function isUpdateDocument(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { gatehouse?: unknown }).gatehouse !== undefined;
}

function malformed(message: string): never {
  throw new DocumentRefused('malformed', ERRORS.GH_CONTROL_DOCUMENT({ reason: message }, { hint: RESIGN }));
}

/** Parse and shape-check the signed bytes (no policy checks yet). */
export function parseUpdateDocument(bytes: Buffer): UpdateDocument {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    malformed('the signed document is not JSON');
  }
  if (!isUpdateDocument(v))
    malformed(`the signed document has no "gatehouse": "${DOCUMENT_KIND}" header (an older signed format, which can be replayed, is no longer accepted)`);
  const d = v as Record<string, unknown>;
  if (d.gatehouse !== DOCUMENT_KIND) malformed(`unknown document kind ${JSON.stringify(d.gatehouse)} (expected "${DOCUMENT_KIND}")`);
  const targets = d.targets;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((x) => typeof x === 'string' && x.length > 0))
    malformed('"targets" must be a non-empty list of gateway ids, group names or "*"');
  const version = d.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) malformed('"version" must be a non-negative integer');
  if (typeof d.expiresAt !== 'string' || Number.isNaN(Date.parse(d.expiresAt))) malformed('"expiresAt" must be an ISO date-time');
  if (d.issuedAt !== undefined && typeof d.issuedAt !== 'string') malformed('"issuedAt" must be an ISO date-time');
  const hasSet = d.ruleSet !== undefined;
  const hasRollback = d.rollback !== undefined;
  if (hasSet === hasRollback) malformed('exactly one of "ruleSet" and "rollback" is required');
  let ruleSet: Record<string, unknown> | undefined;
  let rollback: { toVersion: number } | undefined;
  if (hasSet) {
    if (typeof d.ruleSet !== 'object' || d.ruleSet === null || Array.isArray(d.ruleSet)) malformed('"ruleSet" must be a rule set object');
    ruleSet = d.ruleSet as Record<string, unknown>;
    if (ruleSet.version !== undefined && ruleSet.version !== version)
      malformed(`ruleSet.version ${String(ruleSet.version)} differs from the document version ${version}`);
    if (ruleSet.force !== undefined)
      malformed('"force" is not allowed in a signed update document: versions only go forward (roll back with a rollback document)');
    ruleSet = { ...ruleSet, version };
  } else {
    const r = d.rollback as { toVersion?: unknown } | null;
    if (typeof r !== 'object' || r === null || typeof r.toVersion !== 'number' || !Number.isSafeInteger(r.toVersion))
      malformed('"rollback" must be { "toVersion": <rule set version> }');
    rollback = { toVersion: r.toVersion };
  }
  return { targets: targets as string[], version, issuedAt: d.issuedAt as string | undefined, expiresAt: d.expiresAt, ruleSet, rollback };
}

export interface BindingContext {
  gatewayId: string;
  groups: readonly string[];
  /** Highest document version ever accepted here (-1 when none). */
  acceptedVersion: number;
  now: number;
}

/** The policy: target, expiry, monotonic version. Throws DocumentRefused. */
export function checkBinding(doc: UpdateDocument, ctx: BindingContext): void {
  const names = new Set([ctx.gatewayId, ...ctx.groups, '*']);
  if (!doc.targets.some((t) => names.has(t))) {
    throw new DocumentRefused(
      'target',
      ERRORS.GH_CONTROL_DOCUMENT(
        {
          reason: `it targets ${JSON.stringify(doc.targets)}, not this gateway (${ctx.gatewayId}${ctx.groups.length ? `, groups ${ctx.groups.join(', ')}` : ''})`,
        },
        { hint: 'sign it with --targets naming this gateway id or one of its control.groups' },
      ),
    );
  }
  if (Date.parse(doc.expiresAt) <= ctx.now) {
    throw new DocumentRefused(
      'expired',
      ERRORS.GH_CONTROL_DOCUMENT(
        { reason: `it expired at ${doc.expiresAt} (this gateway's clock reads ${new Date(ctx.now).toISOString()})` },
        { hint: "sign it again (a fresh expiresAt) with a version above the accepted one; if it had not expired, set this gateway's clock right (NTP)" },
      ),
    );
  }
  if (doc.version <= ctx.acceptedVersion) {
    throw new DocumentRefused(
      'replay',
      ERRORS.GH_CONTROL_REPLAY(
        { version: doc.version, accepted: ctx.acceptedVersion },
        { hint: `sign a new document with version ${ctx.acceptedVersion + 1} or higher (a rollback too: --rollback-to V --version N)` },
      ),
    );
  }
}

/** Build the document (the signer's side). */
export function buildUpdateDocument(opts: {
  targets: string[];
  version: number;
  expiresAt: Date;
  issuedAt: Date;
  ruleSet?: Record<string, unknown>;
  rollbackTo?: number;
}): Buffer {
  if ((opts.ruleSet === undefined) === (opts.rollbackTo === undefined))
    throw new GatehouseError('GH_ARG_INVALID', 'a document carries a rule set or a rollback, not both', {});
  const doc: Record<string, unknown> = {
    gatehouse: DOCUMENT_KIND,
    targets: opts.targets,
    version: opts.version,
    issuedAt: opts.issuedAt.toISOString(),
    expiresAt: opts.expiresAt.toISOString(),
  };
  if (opts.ruleSet) doc.ruleSet = { ...opts.ruleSet, version: opts.version };
  else doc.rollback = { toVersion: opts.rollbackTo };
  return Buffer.from(JSON.stringify(doc));
}
