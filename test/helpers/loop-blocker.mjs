// Preloaded into a gateway under test (node --import): SIGUSR2 blocks its event loop for
// GATEHOUSE_TEST_BLOCK_MS (default 3000) in one synchronous call (Atomics.wait: the main thread
// sleeps, as in a native call that never returns), then lets it go. Its start and end are printed
// as log lines with `mono`: CLOCK_MONOTONIC seconds (notify-manager.py's clock). Test-only: the
// gateway has no such hook.
const ms = Number(process.env.GATEHOUSE_TEST_BLOCK_MS ?? 3000);
const mono = () => Number(process.hrtime.bigint()) / 1e9;
process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify({ msg: 'test: event loop blocked', mono: mono(), ms })}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  process.stdout.write(`${JSON.stringify({ msg: 'test: event loop unblocked', mono: mono() })}\n`);
});
