// "cad": contextual anomaly detector (see context-model.ts): one bounded sequence model per
// input; score = share of learnt contexts that did not predict the current value (max over
// inputs). After a score >= restThreshold the detector stays quiet for restPeriod points: an
// alarm is reported once, at its start, rather than on every point of the same event (NAB
// rewards the earliest detection in a window and charges every extra false positive).
import type { DetectorInfo, DetectorParams, StatefulDetector } from './types.js';
import { allFinite, num, valueAt } from './params.js';
import { encodeSnapshot } from './snapshot.js';
import { ContextModel } from './context-model.js';

export const CAD_PARAMS: DetectorInfo['params'] = [
  { name: 'levels', type: 'integer', default: 8, min: 2, max: 64, description: 'bins over the adaptive running range of each input' },
  { name: 'order', type: 'integer', default: 4, min: 0, max: 32, description: 'longest context, in past bins' },
  {
    name: 'slots',
    type: 'integer',
    default: 16384,
    min: 64,
    max: 1048576,
    description: 'context table capacity per input (bounded memory; least recently used evicted)',
  },
  {
    name: 'rangeHalfLife',
    type: 'number',
    default: 5000,
    min: 0,
    max: 1e12,
    description: 'points for the running range to contract half-way toward recent values (0 = never contracts)',
  },
  {
    name: 'calibration',
    type: 'integer',
    default: 300,
    min: 1,
    max: 1e9,
    description: 'first points only measure the range that sets the bin width (score 0)',
  },
  {
    name: 'restPeriod',
    type: 'integer',
    default: 150,
    min: 0,
    max: 1e9,
    description: 'points kept quiet after a score >= restThreshold (one alarm per event)',
  },
  { name: 'restThreshold', type: 'number', default: 0.75, min: 0, max: 1, description: 'score that starts a rest period' },
  { name: 'inputs', type: 'integer', default: 1, min: 1, max: 64, description: 'numeric inputs per point (score = max over inputs)' },
];

export const CAD_INFO: DetectorInfo = {
  name: 'cad',
  description:
    'Contextual anomaly detector: values quantised over an adaptive running range, contexts of recent bins learnt in a bounded table; score in [0, 1] = share of contexts that did not predict the value; quiet for restPeriod points after an alarm.',
  params: CAD_PARAMS,
};

export class CadDetector implements StatefulDetector {
  readonly name: string = 'cad';
  readonly inputs: number;
  private readonly models: ContextModel[];
  private readonly restPeriod: number;
  private readonly restThreshold: number;
  private readonly warmAfter: number;
  /** [points seen, points since the last score >= restThreshold] */
  private readonly s = new Float64Array(2);

  constructor(readonly params: Readonly<DetectorParams>) {
    this.inputs = num(params, 'inputs');
    const order = num(params, 'order');
    this.models = [];
    for (let i = 0; i < this.inputs; i++) {
      this.models.push(new ContextModel(num(params, 'levels'), order, num(params, 'slots'), num(params, 'rangeHalfLife'), num(params, 'calibration')));
    }
    this.restPeriod = num(params, 'restPeriod');
    this.restThreshold = num(params, 'restThreshold');
    this.warmAfter = Math.max(this.restPeriod, num(params, 'calibration') + 10 * (order + 1));
    // like CAD OSE, start "just after an alarm": the first restPeriod points are the warm-up
    this.s[1] = 0;
  }

  get warm(): boolean {
    return this.s[0]! >= this.warmAfter;
  }

  /** Raw model score (no rest period), for detectors that combine it. */
  raw(values: ArrayLike<number> | number): number {
    let score = 0;
    for (let i = 0; i < this.inputs; i++) {
      const v = this.models[i]!.update(valueAt(values, i));
      if (v > score) score = v;
    }
    return score;
  }

  update(values: ArrayLike<number> | number, _timestampMs?: number): number {
    if (!allFinite(values, this.inputs)) return 0;
    const raw = this.raw(values);
    const s = this.s;
    s[0] = s[0]! + 1;
    const quiet = s[1]! < this.restPeriod;
    s[1] = raw >= this.restThreshold ? 0 : s[1]! + 1;
    return quiet ? 0 : raw;
  }

  stateArrays(): ArrayBufferView[] {
    const out: ArrayBufferView[] = [this.s];
    for (const m of this.models) out.push(...m.stateArrays());
    return out;
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this);
  }
}
