// `gatehouse simulate mqtt` interrupted (Ctrl-C, SIGINT) while its first device waits for a CONNACK
// from a broker that never answers (a real TCP server that accepts and stays silent: a hung broker,
// or a URL that points at some other service's port). The run ends there, with the summary of what
// it sent (nothing) and exit 0 as a Ctrl-C during the run does. Before, the connect ignored the
// Ctrl-C: the command waited out the 10 s connect timeout, then exited 1 with 'connack timeout'
// (and against a slow broker connected the rest of the fleet before stopping).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cliCommand } from '../helpers/gateway-process.js';
import { silentTcpServer, withTimeout } from '../helpers/index.js';

test('simulate mqtt: Ctrl-C while a device waits for its CONNACK ends the run at once, exit 0, sent 0', async (t) => {
  const { server, port, sockets } = await silentTcpServer(t);
  const connected = once(server, 'connection');
  const { cmd, args } = cliCommand();
  const url = `mqtt://127.0.0.1:${port}`;
  const child = spawn(cmd, [...args, 'simulate', 'mqtt', '--url', url, '--devices', '3', '--count', '10'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit');
  // The first device is connecting (its SIGINT handler is in place before it connects).
  await withTimeout(connected, 30_000, 'the first simulated device connecting');
  child.kill('SIGINT');
  const [code, signal] = (await withTimeout(exited, 30_000, 'simulate mqtt ending after Ctrl-C')) as [number | null, string | null];
  assert.equal(signal, null, `ended by ${signal}`);
  assert.doesNotMatch(err, /connack timeout|GH_PEER_UNREACHABLE/, 'the connect was not waited out');
  assert.equal(code, 0, `${out}${err}`);
  assert.match(out, /sent 0, acked 0, errors 0/);
  assert.equal(sockets.length, 1, 'no other device connects after the Ctrl-C');
});
