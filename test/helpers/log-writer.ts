// A real log writer in its own process: appends numbered lines to a file through one open handle
// (like an application), at a steady pace, and reopens the file on SIGHUP (what logrotate's
// postrotate asks applications to do). Prints "done <n>" when it has written every line.
//   node log-writer.js FILE COUNT [LINES_PER_TICK] [PREFIX]
import { closeSync, openSync, writeSync } from 'node:fs';

const [file, countArg, perTickArg, prefixArg] = process.argv.slice(2);
const count = Number(countArg);
const perTick = Number(perTickArg ?? 50);
const prefix = prefixArg ?? 'w';
let fd = openSync(file!, 'a');
process.on('SIGHUP', () => {
  closeSync(fd);
  fd = openSync(file!, 'a');
});
let i = 0;
const pad = 'x'.repeat(60);
function tick(): void {
  let chunk = '';
  for (let k = 0; k < perTick && i < count; k++, i++) chunk += `${prefix} ${i} ${pad}\n`;
  writeSync(fd, chunk);
  if (i < count) setTimeout(tick, 2);
  else {
    closeSync(fd);
    process.stdout.write(`done ${i}\n`);
  }
}
process.stdout.write('ready\n');
tick();
