// The error catalogue: every code of the runtime's one error type (GatehouseError, errors.ts) with
// its meaning (one line, for docs/errors.md), its message template and its default hint, the way
// fastify's error constructors own theirs. docs/errors.md is generated from this table (`gatehouse
// errors --markdown`) and a unit test checks that every code is thrown somewhere (or marked
// reserved with a reason) and that no other GH_ code exists in the source.
// A code never changes meaning once released; add new ones at the END of their group. The codes are
// kept in four sections by part (error-catalogue-edge/data/links/control.ts), joined here in the
// order docs/errors.md lists them.
import { EDGE_ERRORS } from './error-catalogue-edge.js';
import { DATA_ERRORS } from './error-catalogue-data.js';
import { LINKS_ERRORS } from './error-catalogue-links.js';
import { CONTROL_ERRORS } from './error-catalogue-control.js';
import type { ErrorSpec } from './error-spec.js';

export type { ErrorSpec } from './error-spec.js';

export const ERROR_CATALOGUE = {
  ...EDGE_ERRORS,
  ...DATA_ERRORS,
  ...LINKS_ERRORS,
  ...CONTROL_ERRORS,
} as const satisfies Record<string, ErrorSpec>;
