// `gatehouse opcua browse --json` run as a user runs it (the real bin, a child process): its stdout
// is the JSON listing and nothing else, so `| jq` works. node-opcua prints its warnings with
// console.log ("Creating default certificate ... please wait" at the first run, the Node version's
// RSA PKCS#1 note at every connection); they went to stdout around the JSON. In-process tests
// capture the CLI's io.stdout only, so they never saw those lines. They are node-opcua's debug
// output: shown with --verbose, on stderr, each its message (node-opcua's loggers get the caller's
// context object first, which printed as '[object Object]'); without --verbose, stderr is quiet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from '../helpers/index.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

const run = promisify(execFile);

test('gatehouse opcua browse --json: stdout is the JSON listing only (node-opcua warnings on stderr with --verbose, their messages without the context object, none without), first run and later ones', async (t) => {
  const peer = await opcuaPeer(t, {}, join(await tempDir(t, 'gatehouse-opcua-srv-'), 'server'));
  const dataDir = await tempDir(t, 'gatehouse-opcua-cli-');
  for (const round of ['first run (creates the client certificate)', 'second run', 'third run, without --verbose']) {
    const verbose = round.includes('without') ? [] : ['--verbose'];
    const { stdout, stderr } = await run(
      process.execPath,
      [join(repoRoot, 'bin', 'gatehouse.js'), 'opcua', 'browse', '--endpoint', peer.endpoint, '--json', '--data-dir', dataDir, ...verbose],
      {
        timeout: 60_000,
      },
    );
    let rows: Array<{ nodeId: string; browseName: string }>;
    try {
      rows = JSON.parse(stdout) as typeof rows;
    } catch (err) {
      assert.fail(`${round}: stdout is not JSON (${String(err)}):\n${stdout.slice(0, 600)}`);
    }
    assert.ok(
      rows.some((r) => r.nodeId === 'ns=1;s=Speed'),
      `${round}: the listing`,
    );
    if (round.startsWith('first')) assert.match(stderr, /^gatehouse opcua: node-opcua: Creating default certificate \.\.\. please wait$/m, stderr);
    assert.doesNotMatch(stderr, /\[object Object\]/, `${round}: ${stderr}`);
    if (!verbose.length) assert.equal(stderr, '', round);
  }
});
