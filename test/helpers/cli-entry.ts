// Entry used by tests running from TypeScript sources (tsx): same as bin/gatehouse.js.
import { main } from '../../gateway/cli/main.js';

function finish(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}

main(process.argv.slice(2)).then(
  (code) => finish(code),
  (err: unknown) => {
    process.stderr.write(`gatehouse: ${String(err)}\n`);
    finish(1);
  },
);
