#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=8
// --max-semi-space-size=8: a gateway allocates many short-lived objects per message and V8 would
// grow its young generation to 3 x 16 MiB for them; 8 MiB semi-spaces keep peak RSS ~20 MiB lower
// at the same throughput (docs/benchmarks.md). MALLOC_MMAP_THRESHOLD_: glibc's malloc gives an
// allocation of 128 KiB or more back to the system when it is freed, where by default it raises
// that threshold after the first one and keeps them: each password check (scrypt, 16 MiB) then
// left 16 MiB with every thread-pool thread that ran one (docs/security.md, "Memory"). `npm start`
// and the systemd unit pass both too.
// Thin launcher: the CLI is compiled TypeScript under dist/ (built by `npm install` via `prepare`).

// Node.js 18 (the apt package of Raspberry Pi OS 12) and older cannot run the compiled CLI: they
// failed with whatever API or syntax they met first. Checked before the CLI is loaded; exit 78 (a
// restart cannot fix it: systemd does not restart on it, README "Exit codes").
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 20) {
  process.stderr.write(
    `gatehouse: needs Node.js 20 or newer (22 or 24 LTS recommended); this is ${process.version} at ${process.execPath}. ` +
      'Fix: install Node.js 22 or 24 (README, Requirements), then run gatehouse with it.\n',
  );
  process.exit(78);
}
// dist/bundle/main.js: the same CLI with its modules joined by esbuild (scripts/bundle.mjs: ~3 MiB
// less idle RSS, ~10 MiB less in the first seconds). tsc's modules run instead when there is no
// bundle (built without esbuild), when it is older than tsc's output (a `tsc` run alone after the
// last `npm run build`: it would run old code), or with GATEHOUSE_BUNDLE=0 (debugging, the tests
// that name modules).
const { existsSync, statSync } = await import('node:fs');
const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const modules = new URL('../dist/gateway/cli/main.js', import.meta.url);
const useBundle =
  process.env.GATEHOUSE_BUNDLE !== '0' && existsSync(bundled) && (!existsSync(modules) || statSync(bundled).mtimeMs >= statSync(modules).mtimeMs);
const { main } = await import(useBundle ? bundled.href : modules.href);

function finish(code) {
  process.exitCode = code;
  // Let stdout drain and the loop empty on its own; if a stray handle keeps it alive, exit anyway.
  setTimeout(() => process.exit(code), 2000).unref();
}

// A reader that went away (`gatehouse errors | head`) ends a command quietly, as Unix tools do,
// instead of an unhandled EPIPE. Not for `start`: its stdout is the log, and losing the log's
// reader is no reason to stop a gateway.
if (process.argv[2] !== 'start') {
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => finish(typeof code === 'number' ? code : 0),
  (err) => {
    process.stderr.write(`gatehouse: ${err?.stack ? err.stack : err}\n`);
    finish(1);
  },
);
