// `gatehouse passwd` typed at a terminal, as mosquitto_passwd: the password is not echoed (it
// stays out of the screen and the scrollback) and is asked twice. A real pseudo-terminal, through
// util-linux `script`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { verifyPassword } from '../../gateway/broker/password.js';
import { needBinary, waitUntil } from '../helpers/index.js';
import { cliCommand } from '../helpers/gateway-process.js';

async function passwdOnTty(typed: string[]): Promise<{ out: string; code: number | null }> {
  const { cmd, args } = cliCommand();
  const line = [cmd, ...args, 'passwd'].map((a) => `'${a}'`).join(' ');
  const proc = spawn('script', ['-qefc', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(proc, 'exit');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  try {
    let prompts = 0;
    for (const t of typed) {
      prompts++;
      await waitUntil(() => (out.match(/password: /gi) ?? []).length >= prompts, `prompt ${prompts}: ${JSON.stringify(out)}`, 10_000);
      proc.stdin.write(t);
    }
    const [code] = (await exited) as [number | null];
    return { out, code };
  } finally {
    clearTimeout(timer);
    proc.kill('SIGKILL');
  }
}

test('passwd at a terminal: the password is not echoed, asked twice, and the hash printed verifies it', {
  skip: needBinary('script', 'bsdutils'),
}, async () => {
  const ok = await passwdOnTty(['s3cret-Pw\r', 's3cret-Pw\r']);
  assert.equal(ok.code, 0, ok.out);
  assert.doesNotMatch(ok.out, /s3cret-Pw/, 'the password is not on the screen');
  const hash = /scrypt\$\S+/.exec(ok.out)?.[0];
  assert.ok(hash, ok.out);
  assert.equal(await verifyPassword('s3cret-Pw', hash), true);
  const differ = await passwdOnTty(['one-pass\r', 'other-pass\r']);
  assert.notEqual(differ.code, 0);
  assert.match(differ.out, /GH_ARG_INVALID: the two passwords differ/);
  assert.doesNotMatch(differ.out, /scrypt\$/);
});
