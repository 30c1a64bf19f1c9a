// The one place the gateway imports zod from. Every schema (config, options, rules) is built with
// this `z`, so the build can swap what it is: after tsc, scripts/vendor-zod.mjs replaces the
// compiled dist/core/zod.js with one bundled file of zod without its ~40 locale tables and the `core`
// namespace object (the package's ESM entry imports them all; Node cannot tree-shake, a bundler can).
// That is 2-3 MiB of RSS on a settled idle gateway, 4-7 at start, and 1-4 MiB of heap (docs/benchmarks.md, round 7;
// docs/decisions.md). Types still come from the package, and this file as compiled by tsc (a plain
// re-export) stays valid wherever the bundle step does not run.
//
// Contract: at run time `z` has every member of zod's `z` except `z.locales` and `z.core` (use
// them in types only: `z.core.$ZodIssue`); error messages are zod's English ones (en is configured
// by zod's entry, which the bundle keeps). test/unit/zod-vendor.test.ts holds both.
export { z } from 'zod';
