#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/ (built by `npm install` via `prepare`).
import { main } from '../dist/gateway/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`gatehouse: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
