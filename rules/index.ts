// Public surface of the rules engine: the gateway imports rules/ only through this file and rules/types.ts.
export type * from './types.js';
export {
  compileRuleSet,
  validateRuleSet,
  ruleSetCompileOptionsSchema,
  type CompiledRule,
  type CompiledRuleSet,
  type RuleSetCompileOptions,
  type RuleStats,
} from './ruleset.js';
export { createRuleEngine, type RuleEngine, type RuleEngineOptions } from './engine.js';
export { ActionFailedOn, awsActionName, type ErrorActionPayload, type ActionFailure } from './action-runner.js';
export { ruleSetSchema, ruleSchema, parseRuleSet, loadRuleSetFile, rulesetError, type RuleSetIssue } from './schema.js';
export { TopicIndex, topicMatches } from './topic-index.js';
export {
  compileSql,
  compileExpression,
  evaluateQuery,
  serializeOutput,
  type CompiledQuery,
  type CompilerHooks,
  type CompileOptions,
  type WindowedQuery,
  type WindowEmission,
  type StateSite,
} from './sql/compiler.js';
export * from './windows/index.js';
export { compileTemplate, type CompiledTemplate } from './sql/template.js';
export { EvalContext, evalContextOf } from './sql/context.js';
export { compactJson } from './sql/json-decimal.js';
export { NO_SHADOWS } from './sql/functions/shadow.js';
export { createFunctionRegistry, type FunctionRegistry, type FunctionRegistryOptions, type SqlFunctionDef } from './sql/functions/index.js';
export { lookupKeyText, NO_LOOKUP_TABLES } from './sql/functions/lookup.js';
export { PROTO_MAX_JSON_CHARS, PROTO_MAX_PAYLOAD_BYTES } from './sql/functions/proto.js';
