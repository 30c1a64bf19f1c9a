// The retained status document of remote control (ControlStatus, on <prefix>/<id>/rules/status):
// what the office reads of a gateway's last update attempt and of the sets it holds. Made from an
// update outcome and what the rule holder, the accepted version and the probation monitor say at
// that moment; published by RemoteControl (remote.ts) for every attempt, whatever its source, and
// again after each reconnect to the control broker. Read only: it changes nothing it reads.
import type { ProbationInfo } from './probation.js';
import type { RuleSetTarget, RuleUpdateStatus } from './rule-set-target.js';

/** The retained status document. */
export interface ControlStatus {
  gatewayId: string;
  /** The gateway's installation id, when known: gateways sharing a gatewayId (a cloned SD card) overwrite this retained document, and it tells which wrote it. */
  installationId?: string;
  activeVersion: number | null;
  /** The last confirmed set before the active one: where a rollback (operator or automatic) goes. */
  lastGoodVersion: number | null;
  /** Highest update document version ever accepted (replays at or below it are refused). */
  acceptedVersion: number;
  state: RuleUpdateStatus['state'];
  /** The attempted set; for rolled-back, the version the gateway went back to. */
  version: number | null;
  /** Rolled-back only: the version that was running before. */
  fromVersion?: number;
  source: string;
  errors: RuleUpdateStatus['errors'];
  /** The error code of a refusal or of an automatic rollback (GH_RULESET_RUNTIME_FAILURE); absent otherwise. */
  code?: RuleUpdateStatus['code'];
  /** The probation running now (the active set, watched until endsAt), null when none. */
  probation: ProbationInfo | null;
  /** When the active set was applied (ISO), null when none. */
  appliedAt: string | null;
  /** When this attempt happened (ISO). */
  at: string;
}

/** What the document says of the gateway besides the outcome, read when it is made. */
export interface StatusSources {
  gatewayId: string;
  installationId: string | undefined;
  /** Highest update document version accepted so far (accepted.ts). */
  acceptedVersion: number;
  rules: RuleSetTarget;
  /** The probation running now (probation.ts), if any. */
  probation: ProbationInfo | undefined;
}

/** The status document for an update outcome. */
export function statusDocument(s: RuleUpdateStatus, from: StatusSources): ControlStatus {
  const st = from.rules.status() as { activeVersion: number | null; lastGoodVersion: number | null; appliedAt: string | null };
  const installationId = from.installationId;
  return {
    gatewayId: from.gatewayId,
    ...(installationId === undefined ? {} : { installationId }),
    activeVersion: st.activeVersion,
    lastGoodVersion: st.lastGoodVersion,
    acceptedVersion: from.acceptedVersion,
    state: s.state,
    version: s.version ?? null,
    ...(s.fromVersion === undefined ? {} : { fromVersion: s.fromVersion }),
    source: s.source,
    errors: s.errors,
    ...(s.code ? { code: s.code } : {}),
    probation: from.probation ?? null,
    appliedAt: st.appliedAt,
    at: new Date(s.at).toISOString(),
  };
}

/** The rule holder's last reported outcome (its status's lastUpdate), with `at` in epoch ms. */
export function lastUpdateOf(rules: RuleSetTarget): RuleUpdateStatus | undefined {
  const last = (rules.status() as { lastUpdate?: (Omit<RuleUpdateStatus, 'at'> & { at: string }) | null }).lastUpdate;
  return last ? { ...last, at: Date.parse(last.at) } : undefined;
}
