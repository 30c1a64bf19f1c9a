// `gatehouse passwd`: hash a password for broker.users[].password (and an http source's auth.users[].password).
import { hashPassword } from '../broker/password.js';
import { GatehouseError } from '../../core/errors.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

const USAGE = 'gatehouse passwd [PASSWORD]   (reads the password from stdin when omitted; at a terminal, typed twice without echo)';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * One line typed at the terminal without echo (raw mode), as mosquitto_passwd and ssh do: the
 * password stays off the screen and the scrollback. Backspace edits; Ctrl-C and Ctrl-D abort.
 */
function readHidden(prompt: string, io: CliIO): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt: whatever answers the prompt (a person, expect, a paste) is not
  // echoed. Written first, the prompt could be answered before raw mode began, and the terminal
  // echoed the password (seen once in a loaded test run).
  stdin.setRawMode(true);
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let line = '';
    const done = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new GatehouseError('GH_ARG_INVALID', 'no password given (interrupted)', { hint: USAGE }));
        if (ch === '\u007f' || ch === '\b') line = [...line].slice(0, -1).join('');
        else line += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function readTyped(io: CliIO): Promise<string> {
  const first = await readHidden('Password: ', io);
  if (!first) return first;
  const again = await readHidden('Repeat password: ', io);
  if (again !== first)
    throw new GatehouseError('GH_ARG_INVALID', 'the two passwords differ', { hint: 'run gatehouse passwd again and type the same password twice' });
  return first;
}

export async function runPasswd(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { help: { type: 'boolean', short: 'h' } }, USAGE, true);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nPrints a scrypt hash to put in broker.users[].password, or an http source's auth.users[].password. Passing the password as an argument leaves it in shell history: prefer stdin.`,
    );
    return 0;
  }
  // `gatehouse passwd my secret phrase` would hash 'my' alone: the device's password would not match.
  if (positionals.length > 1)
    throw new GatehouseError('GH_ARG_INVALID', `expected one PASSWORD, got ${positionals.length} arguments`, {
      hint: `quote a password with spaces: gatehouse passwd '${positionals.join(' ')}' (or give it on stdin)`,
    });
  const plain = positionals[0] ?? (process.stdin.isTTY ? await readTyped(io) : await readStdin());
  if (!plain) throw new GatehouseError('GH_ARG_INVALID', 'empty password', { hint: USAGE });
  writeLine(io.stdout, hashPassword(plain));
  return 0;
}
