// Contract of the streaming anomaly detectors. A detector is a plain class whose whole mutable
// state lives in typed arrays, so a gateway can hold one per device cheaply and snapshot it to
// the store (restoreDetector) without walking an object graph.

export type ParamValue = number | string;
export type DetectorParams = Record<string, ParamValue>;

export interface Detector {
  /** Registered detector name (zscore, ewma, rcf, auto). */
  readonly name: string;
  /** Resolved parameters (defaults filled in), as given to createDetector. */
  readonly params: Readonly<DetectorParams>;
  /** Number of numeric inputs per update. */
  readonly inputs: number;
  /**
   * Score one point, then learn it. Returns the anomaly score (>= 0, higher = more anomalous;
   * 0 while warming up). A non-finite input returns 0 and leaves the state untouched.
   */
  update(values: ArrayLike<number> | number, timestampMs?: number): number;
  /** True once the detector has seen enough points for its scores to mean something. */
  readonly warm: boolean;
  /** Full state as bytes (restoreDetector(bytes) continues identically). */
  snapshot(): Uint8Array;
}

/**
 * Internal side of a detector: every mutable field lives in one of these arrays, in a fixed
 * order, so snapshot/restore is a byte copy. Scalars live in a small Float64Array.
 */
export interface StatefulDetector extends Detector {
  stateArrays(): ArrayBufferView[];
}

export interface ParamSpec {
  name: string;
  type: 'integer' | 'number' | 'string';
  default: ParamValue;
  description: string;
  /** Inclusive bounds for numbers. */
  min?: number;
  max?: number;
  /** Allowed values for strings. */
  choices?: readonly string[];
}

export interface DetectorInfo {
  name: string;
  description: string;
  params: readonly ParamSpec[];
}

/** Per-input attribution of an RCF score (KDA's RANDOM_CUT_FOREST_WITH_EXPLANATION). */
export interface InputAttribution {
  /** Share of the anomaly score due to this input (the strengths sum to the score). */
  strength: number;
  directionalExplanation: 'LOW' | 'HIGH';
}

export interface RcfExplanation {
  score: number;
  attribution: InputAttribution[];
}
