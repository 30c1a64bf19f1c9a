// The default function library: every AWS IoT SQL function that needs no cloud service.
import type { FunctionRegistry } from './types.js';
import { registerMath } from './math.js';
import { registerString } from './string.js';
import { registerHash } from './hash.js';
import { registerMqtt } from './mqtt.js';
import { registerTime } from './time.js';
import { registerMisc } from './misc.js';
import { registerAnomaly } from './anomaly.js';
import { registerWindowFunctions } from '../../windows/context.js';

export * from './types.js';

/** AWS functions that call cloud services: refused with a clear message instead of "unknown function". */
export const CLOUD_FUNCTIONS = new Set([
  'aws_lambda',
  'get_dynamodb',
  'get_secret',
  'get_thing_shadow',
  'get_registry_data',
  'machinelearning_predict',
  'accountid',
]);

/** A fresh registry with the built-in functions; callers may add their own (windows, anomaly). */
export function createFunctionRegistry(): FunctionRegistry {
  const reg: FunctionRegistry = new Map();
  registerMath(reg);
  registerString(reg);
  registerHash(reg);
  registerMqtt(reg);
  registerTime(reg);
  registerMisc(reg);
  registerAnomaly(reg);
  registerWindowFunctions(reg);
  return reg;
}
