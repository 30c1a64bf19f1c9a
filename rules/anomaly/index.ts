// Public entry of the anomaly detectors: factory with validated params, metadata for docs and
// --help, snapshot restore, and the RCF explanation variant.
import { closestName } from '../../core/closest-name.js';
import { ERRORS } from '../../core/errors.js';
import type { Detector, DetectorInfo, ParamValue, RcfExplanation, StatefulDetector } from './types.js';
import { resolveParams } from './params.js';
import { decodeHeader, fillState } from './snapshot.js';
import { ZScoreDetector, ZSCORE_INFO } from './zscore.js';
import { EwmaDetector, EWMA_INFO } from './ewma.js';
import { RcfDetector, RCF_INFO } from './rcf.js';
import { AutoDetector, AUTO_INFO, AUTO_THRESHOLD, type AutoExplanation } from './auto.js';
import { CadDetector, CAD_INFO } from './cad.js';

export type { AutoExplanation } from './auto.js';
export type { StageName } from './auto-stages.js';
export type { Detector, DetectorInfo, ParamSpec, ParamValue, DetectorParams, InputAttribution, RcfExplanation } from './types.js';
export { ZScoreDetector, EwmaDetector, RcfDetector, AutoDetector, CadDetector, AUTO_THRESHOLD };

/**
 * A score as the SQL functions and `gatehouse detect` give it: one beyond a double (a glitch of
 * 1e308 against a steady series: zscore divides by a tiny deviation) is the largest finite number,
 * 1.7976931348623157e308, so an alert (JSON) or a CSV row carries a number, not null or Infinity.
 */
export function finiteScore(s: number): number {
  return Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, s));
}

/** Name of the detector used when none is given (CLI, rules). */
export const DEFAULT_DETECTOR = 'auto';

/** Every detector with its params (defaults and descriptions), for docs and --help. */
export const DETECTORS: readonly DetectorInfo[] = [AUTO_INFO, CAD_INFO, ZSCORE_INFO, EWMA_INFO, RCF_INFO];

const BUILDERS: Record<string, (p: ReturnType<typeof resolveParams>) => StatefulDetector> = {
  auto: (p) => new AutoDetector(p),
  zscore: (p) => new ZScoreDetector(p),
  ewma: (p) => new EwmaDetector(p),
  rcf: (p) => new RcfDetector(p),
  cad: (p) => new CadDetector(p),
};

function infoOf(name: string): DetectorInfo {
  const info = DETECTORS.find((d) => d.name === name);
  if (!info) {
    const near = closestName(
      name,
      DETECTORS.map((d) => d.name),
    );
    throw ERRORS.GH_DETECTOR_PARAM(
      { reason: `unknown detector '${name}'${near ? ` (did you mean '${near}'?)` : ''}` },
      {
        where: 'detector name',
        hint: `use one of ${DETECTORS.map((d) => d.name).join(', ')}, e.g. ${near ?? 'rcf'}`,
      },
    );
  }
  return info;
}

/** Build a fresh detector; throws GH_DETECTOR_PARAM naming the bad param and what is allowed. */
export function createDetector(name: string, params: Readonly<Record<string, ParamValue>> = {}): Detector {
  const info = infoOf(name);
  return BUILDERS[info.name]!(resolveParams(info, params));
}

/** Rebuild a detector from snapshot() bytes; it continues exactly where the original was. */
export function restoreDetector(bytes: Uint8Array): Detector {
  const { name, params, bodyOffset } = decodeHeader(bytes);
  const info = infoOf(name);
  const det = BUILDERS[info.name]!(resolveParams(info, params));
  fillState(det, bytes, bodyOffset);
  return det;
}

/**
 * RANDOM_CUT_FOREST_WITH_EXPLANATION: score the point with per-input attribution (strengths sum
 * to the score; direction HIGH/LOW relative to recent data), then learn it, like update().
 */
export function rcfExplain(det: Detector, values: ArrayLike<number> | number, timestampMs?: number): RcfExplanation {
  if (!(det instanceof RcfDetector)) {
    throw ERRORS.GH_DETECTOR_PARAM(
      { reason: `rcfExplain needs an rcf detector, got '${det.name}'` },
      {
        where: 'rcfExplain',
        hint: "create it with createDetector('rcf', { inputs: 2 })",
      },
    );
  }
  return det.explain(values, timestampMs);
}

/**
 * anomaly_explain: update() of the default detector, plus which stage gave the score (none,
 * warmup, forest, spatial), whether a rest period held it at 0, and the evidence behind it.
 */
export function autoExplain(det: Detector, values: ArrayLike<number> | number, timestampMs?: number): AutoExplanation {
  if (!(det instanceof AutoDetector)) {
    throw ERRORS.GH_DETECTOR_PARAM(
      { reason: `autoExplain needs an auto detector, got '${det.name}'` },
      {
        where: 'autoExplain',
        hint: "create it with createDetector('auto')",
      },
    );
  }
  return det.explain(values, timestampMs);
}

/** Help text listing detectors and params (CLI --help, docs). */
export function detectorsHelp(): string {
  const lines: string[] = [];
  for (const d of DETECTORS) {
    lines.push(`  ${d.name}${d.name === DEFAULT_DETECTOR ? ' (default)' : ''}: ${d.description}`);
    for (const p of d.params) {
      const range = p.type === 'string' ? (p.choices ?? []).join('|') : `${p.type} ${p.min ?? ''}..${p.max ?? ''}`;
      lines.push(`      ${p.name}=${p.default}  (${range}) ${p.description}`);
    }
  }
  return lines.join('\n');
}
