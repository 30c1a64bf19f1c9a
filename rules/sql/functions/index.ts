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
import { ProtoDecoder } from './proto.js';
import type { LookupTableSource, ProtoDescriptorSource, ShadowLookup } from '../../types.js';
import { registerLookup } from './lookup.js';
import { registerShadow } from './shadow.js';

export * from './types.js';

/**
 * AWS functions the gateway cannot run, each with what it needs that a gateway does not have: refused
 * when the rule compiles (`rules check` names the function, the reason and what to write instead)
 * rather than "unknown function", which reads as a typo.
 */
const CLOUD = ': only the AWS IoT cloud service reaches it, not a gateway';
export const CLOUD_FUNCTIONS: ReadonlyMap<string, { reason: string; hint: string }> = new Map([
  [
    'aws_lambda',
    { reason: `calls an AWS Lambda function${CLOUD}`, hint: 'send the data upstream (a kinesis, firehose, http or mqtt action) and call the function there' },
  ],
  [
    'get_secret',
    {
      reason: `reads a secret from AWS Secrets Manager${CLOUD}`,
      hint: "put the credential in the destination's options (an http destination's accessKey), not in the rule",
    },
  ],
  [
    'get_thing_shadow',
    {
      reason: "reads a thing's shadow from the gateway's local Device Shadow service, which is switched off (shadows.enabled: false)",
      hint: 'switch the local shadows on (shadows.enabled: true, docs/shadows.md), or have the device publish the state it needs',
    },
  ],
  [
    'get_registry_data',
    { reason: `reads the AWS IoT thing registry${CLOUD}`, hint: 'enrich the data upstream, or put the attributes the rule needs in the rule' },
  ],
  ['machinelearning_predict', { reason: `calls an Amazon Machine Learning model${CLOUD}`, hint: 'send the data upstream and predict there' }],
  [
    'accountid',
    {
      reason: 'names the AWS account that owns the rule: a rule on a gateway belongs to no AWS account',
      hint: "write the account id as a string literal ('123456789012')",
    },
  ],
]);

export interface FunctionRegistryOptions {
  /** Where decode(*, 'proto', bucket, key, ...) reads descriptors (the gateway's folder); without it such a rule compiles unchecked and fails when it runs. */
  protoDescriptors?: ProtoDescriptorSource;
  /** The gateway's local shadows: get_thing_shadow() reads them (without: the function is refused, as a cloud function). */
  shadows?: ShadowLookup;
  /** The tables get_dynamodb() reads (the gateway's `tables:`); without it such a call compiles unchecked and fails when it runs. */
  lookupTables?: LookupTableSource;
}

/**
 * A fresh registry with the built-in functions; callers may add their own (windows, anomaly). The
 * Protobuf descriptors it reads are cached in it: a registry per compiled rule set.
 */
export function createFunctionRegistry(opts: FunctionRegistryOptions = {}): FunctionRegistry {
  const reg: FunctionRegistry = new Map();
  registerMath(reg);
  registerString(reg);
  registerHash(reg, new ProtoDecoder(opts.protoDescriptors));
  registerMqtt(reg);
  registerTime(reg);
  registerMisc(reg);
  registerAnomaly(reg);
  registerWindowFunctions(reg);
  if (opts.shadows) registerShadow(reg, opts.shadows);
  registerLookup(reg, opts.lookupTables);
  return reg;
}
