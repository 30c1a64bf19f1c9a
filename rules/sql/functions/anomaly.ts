// Anomaly detectors as analytic SQL functions: one detector per partition (OVER (PARTITION BY ...)),
// scored and trained once per event (the compiler caches a call site's result per EvalContext).
// Only the public API of rules/anomaly is used. Detector params come from a trailing object
// literal, e.g. random_cut_forest(temp, rpm, {numberOfTrees: 50, shingleSize: 4, maxPartitions: 32}).
import { ERRORS, type GatehouseError } from '../../../core/errors.js';
import {
  AUTO_THRESHOLD,
  DEFAULT_DETECTOR,
  autoExplain,
  createDetector,
  finiteScore,
  rcfExplain,
  restoreDetector,
  type Detector,
  type ParamValue,
} from '../../anomaly/index.js';
import type { Expr } from '../ast.js';
import { isObject, toNumber, WholeDecimal, type Value } from '../values.js';
import { define, type CallSite, type FunctionRegistry, type StatefulInstance } from './types.js';

/**
 * A score is a Decimal even when it is exactly 0 or 1 (score * 100 / 3 must not divide as Int).
 * A score beyond a double (a glitch of 1e308 against a steady series) is the largest finite one:
 * Infinity was written as null, so the alert for the largest anomaly carried no score.
 */
function score(s: number): Value {
  if (Number.isNaN(s)) return undefined;
  const v = finiteScore(s);
  return Number.isInteger(v) ? new WholeDecimal(v) : v;
}

/** Default bound on partitions per call site: an RCF is ~1.5 MB, z-score/EWMA about 1-2 kB. */
export const DEFAULT_MAX_PARTITIONS: Record<string, number> = { heavy: 256, light: 10_000 };

/**
 * Without an explicit maxPartitions, a call site's detectors keep to this many bytes: a detector
 * larger than the defaults' gets fewer partitions (zscore(x, 1000000) is 8 MB: 134, not 10,000,
 * which a flood of topics could make 80 GB).
 */
export const DEFAULT_PARTITIONS_BYTES = 1024 * 1024 * 1024;

interface Variant {
  sqlName: string;
  detector: string;
  /** Name of a positional numeric param allowed as the 2nd argument (zscore window, ewma halfLife). */
  positional?: string;
  single?: boolean;
  heavy: boolean;
  /** rcf: per-input attribution (KDA); auto: which stage gave the score, and its evidence. */
  explain?: 'rcf' | 'auto';
}

const VARIANTS: Variant[] = [
  { sqlName: 'anomaly_score', detector: DEFAULT_DETECTOR, heavy: true },
  { sqlName: 'anomaly_explain', detector: DEFAULT_DETECTOR, heavy: true, explain: 'auto' },
  { sqlName: 'zscore', detector: 'zscore', positional: 'window', single: true, heavy: false },
  { sqlName: 'ewma_score', detector: 'ewma', positional: 'halfLife', single: true, heavy: false },
  { sqlName: 'random_cut_forest', detector: 'rcf', heavy: true },
  { sqlName: 'random_cut_forest_with_explanation', detector: 'rcf', heavy: true, explain: 'rcf' },
];

function semantic(msg: string, e: { pos: { line: number; column: number } }, hint?: string): GatehouseError {
  return ERRORS.GH_SQL_SEMANTIC({ reason: msg }, { where: `line ${e.pos.line}, column ${e.pos.column}`, hint });
}

function literalParams(o: Extract<Expr, { kind: 'object' }>, fn: string): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const en of o.entries) {
    const v = en.value;
    if (v.kind !== 'literal' || (typeof v.value !== 'number' && typeof v.value !== 'string')) {
      throw semantic(`${fn}(): param '${en.key}' must be a number or string literal`, v, `e.g. ${fn}(temp, {numberOfTrees: 50})`);
    }
    out[en.key] = v.value;
  }
  return out;
}

interface SiteConfig {
  inputs: number;
  names: string[];
  params: Record<string, ParamValue>;
  maxPartitions: number;
}

/** Split the call's arguments into numeric inputs and params, and validate the params once. */
function configure(v: Variant, site: CallSite): SiteConfig {
  const args = site.args;
  let params: Record<string, ParamValue> = {};
  let n = args.length;
  const last = args[n - 1];
  if (last?.kind === 'object') {
    params = literalParams(last, v.sqlName);
    n--;
  } else if (v.positional && n === 2) {
    const p = args[1]!;
    if (p.kind !== 'literal' || typeof p.value !== 'number')
      throw semantic(`${v.sqlName}(): the 2nd argument (${v.positional}) must be a number literal`, p, `e.g. ${v.sqlName}(temp, 50)`);
    params[v.positional] = p.value;
    n = 1;
  }
  if (n < 1) throw semantic(`${v.sqlName}() needs at least one numeric input`, site);
  if (v.single && n > 1) throw semantic(`${v.sqlName}() takes one input (and an optional ${v.positional})`, args[1]!, `e.g. ${v.sqlName}(temp, 50)`);
  for (let i = 0; i < n; i++)
    if (args[i]!.kind === 'object' || args[i]!.kind === 'star') throw semantic(`${v.sqlName}(): input ${i + 1} must be a numeric expression`, args[i]!);
  let given: number | undefined;
  if ('maxPartitions' in params) {
    const m = Number(params.maxPartitions);
    if (!Number.isInteger(m) || m < 1 || m > 1_000_000) throw semantic(`${v.sqlName}(): maxPartitions must be an integer in [1, 1000000]`, last!);
    given = m;
    delete params.maxPartitions;
  }
  if (n > 1) params.inputs = n;
  // Validate name + params now (GH_DETECTOR_PARAM at rule compile time, not at the first event).
  const bytes = createDetector(v.detector, params).snapshot().length;
  const byDefault = v.heavy ? DEFAULT_MAX_PARTITIONS.heavy! : DEFAULT_MAX_PARTITIONS.light!;
  const maxPartitions = given ?? Math.max(1, Math.min(byDefault, Math.floor(DEFAULT_PARTITIONS_BYTES / bytes)));
  const names = args.slice(0, n).map((a, i) => (a.kind === 'field' || a.kind === 'member' ? a.name : `input${i + 1}`));
  return { inputs: n, names, params, maxPartitions };
}

function factory(v: Variant) {
  return (site: CallSite): StatefulInstance => {
    const cfg = configure(v, site);
    let parts = new Map<string, Detector>();
    let evicted = 0;
    // Inputs that are not a finite number: Undefined, not learnt, counted (a device sending
    // "temp": "hot" or no temp was scored by nothing and seen by no one).
    let skipped = 0;
    const skip = (): undefined => void skipped++;
    let lastKey: string | undefined;
    const buf = cfg.inputs > 1 ? new Float64Array(cfg.inputs) : undefined;
    const detectorFor = (key: string): Detector => {
      let d = parts.get(key);
      if (d) {
        if (key !== lastKey) {
          // LRU order: move to the end (skipped for the common run of one partition).
          parts.delete(key);
          parts.set(key, d);
        }
      } else {
        if (parts.size >= cfg.maxPartitions) {
          parts.delete(parts.keys().next().value as string);
          evicted++;
        }
        d = createDetector(v.detector, cfg.params);
        parts.set(key, d);
      }
      lastKey = key;
      return d;
    };
    const inst: StatefulInstance = (c, args: Value[], key: string): Value => {
      let input: number | Float64Array;
      if (buf) {
        for (let i = 0; i < cfg.inputs; i++) {
          const a = args[i];
          const x = typeof a === 'number' ? a : toNumber(a);
          if (x === undefined || !Number.isFinite(x)) return skip();
          buf[i] = x;
        }
        input = buf;
      } else {
        const a = args[0];
        const x = typeof a === 'number' ? a : toNumber(a);
        if (x === undefined || !Number.isFinite(x)) return skip();
        input = x;
      }
      const det = detectorFor(key);
      const ts = c.message.receivedAt;
      if (!v.explain) return score(det.update(input, ts));
      if (v.explain === 'auto') {
        const e = autoExplain(det, input, ts);
        return { anomaly_score: score(e.score), stage: e.stage, suppressed: e.suppressed, forest: e.forest, likelihood: e.likelihood, spatial: e.spatial };
      }
      const ex = rcfExplain(det, input, ts);
      const attribution: Record<string, Value> = {};
      ex.attribution.forEach((a, i) => {
        attribution[cfg.names[i] ?? `input${i + 1}`] = { strength: a.strength, directionalExplanation: a.directionalExplanation };
      });
      return { anomaly_score: score(ex.score), attribution };
    };
    inst.state = {
      evicted: () => evicted,
      skipped: () => skipped,
      snapshot(): Buffer {
        const entries = [...parts].map(([k, d]) => [k, Buffer.from(d.snapshot())] as const);
        const header = Buffer.from(JSON.stringify(entries.map(([k, b]) => [k, b.length])), 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32BE(header.length);
        return Buffer.concat([len, header, ...entries.map(([, b]) => b)]);
      },
      restore(bytes: Buffer): void {
        const hl = bytes.readUInt32BE(0);
        const header = JSON.parse(bytes.subarray(4, 4 + hl).toString('utf8')) as Array<[string, number]>;
        const next = new Map<string, Detector>();
        let off = 4 + hl;
        for (const [k, n] of header) {
          if (off + n > bytes.length)
            throw ERRORS.GH_STORE_CORRUPT(
              { what: `the detector state of ${v.sqlName}()`, reason: 'it is truncated' },
              { where: 'rule state', hint: 'the state is ignored; the rule starts fresh' },
            );
          // Copy: restoreDetector may keep views on the bytes, which belong to the store's buffer.
          next.set(k, restoreDetector(new Uint8Array(bytes.subarray(off, off + n))));
          off += n;
        }
        while (next.size > cfg.maxPartitions) next.delete(next.keys().next().value as string);
        parts = next;
        lastKey = undefined;
      },
    };
    return inst;
  };
}

/** Register the analytic anomaly functions and is_anomaly(score[, threshold]). */
export function registerAnomaly(reg: FunctionRegistry): void {
  for (const v of VARIANTS) {
    define(reg, [{ name: v.sqlName, kind: 'stateful', analytic: true, minArgs: 1, maxArgs: 65, factory: factory(v) }]);
  }
  define(reg, [
    {
      name: 'is_anomaly',
      minArgs: 1,
      maxArgs: 2,
      pure: true,
      // is_anomaly(anomaly_score(temp) OVER (PARTITION BY topic(2))): score >= AUTO_THRESHOLD (or the given threshold).
      // An explanation object (anomaly_explain, random_cut_forest_with_explanation) counts by its anomaly_score.
      impl: (_c, a) => {
        const a0 = a[0];
        const s = isObject(a0) ? a0.anomaly_score : a0;
        const score = typeof s === 'number' ? s : toNumber(s);
        if (score === undefined) return undefined;
        const t = a[1] === undefined ? AUTO_THRESHOLD : toNumber(a[1]);
        return t === undefined ? undefined : score >= t;
      },
    },
  ]);
}
