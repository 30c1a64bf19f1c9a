#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/ (built by `npm install` via `prepare`).
import { main } from '../dist/gateway/cli/main.js';

function finish(code) {
  process.exitCode = code;
  // Let stdout drain and the loop empty on its own; if a stray handle keeps it alive, exit anyway.
  setTimeout(() => process.exit(code), 2000).unref();
}

main(process.argv.slice(2)).then(
  (code) => finish(typeof code === 'number' ? code : 0),
  (err) => {
    process.stderr.write(`gatehouse: ${err && err.stack ? err.stack : err}\n`);
    finish(1);
  },
);
