// Windows (GROUP BY TUMBLINGWINDOW(...) etc.) and rule state checkpoints.
export { windowHooks, compileWindowClauses } from './compile.js';
export { WindowEvalContext, registerWindowFunctions } from './context.js';
export { AGGREGATES, type AggDef } from './aggregates.js';
export { parseWindow, type WindowSpec } from './spec.js';
export { realTimers, ManualTimers, type Timers } from './clock.js';
export { metaStateStore, memoryStateStore, stateKey, snapshotQuery, restoreQuery, type StateStore } from './state.js';
export { statefulOptionsSchema, type StatefulOptions } from './options.js';
export { encodeInput, decodeInput, type InputLog, type InputLogRecord, type LoggedInput } from './input-log.js';
