// rsyslog's omrelp (Debian `rsyslog-relp`) forwarding to the relp listener of a syslog source in a
// real gateway process, killed -9 mid-flow and started again: every message logger handed to
// rsyslog reaches the archive stream. Over plain TCP a kill -9 loses what the gateway had read and
// not committed (docs/syslog-source.md); over RELP, rsyslog sends again whatever the gateway had
// not answered, and it answers only what is committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { needBinary } from '../helpers/index.js';
import { flowAcrossRestart } from '../helpers/rsyslog.js';

const OMRELP = '/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so';
const skip =
  needBinary('rsyslogd', 'rsyslog') ??
  needBinary('logger', 'bsdutils') ??
  (existsSync(OMRELP) || existsSync(OMRELP.replace('x86_64', 'aarch64'))
    ? undefined
    : "needs rsyslog's RELP output: install the Debian package 'rsyslog-relp'");

test('rsyslog omrelp: the gateway killed -9 mid-flow and started again, every message sent arrives (rsyslog sends again what was not answered)', {
  skip,
}, async (t) => {
  const r = await flowAcrossRestart(t, {
    syslog: '{ type: syslog, name: cabinet, relp: { port: ${port} } }',
    action: `module(load="omrelp")
action(type="omrelp" target="127.0.0.1" port="\${port}" template="RSYSLOG_SyslogProtocol23Format"
  queue.type="LinkedList" queue.size="100000" action.resumeRetryCount="-1" action.resumeInterval="1")`,
    interrupt: 'kill9',
  });
  assert.ok(r.records >= r.total);
  t.diagnostic(`${r.total} sent (${r.before} before the kill -9), ${r.records} records (${r.records - r.total} sent twice: answers the kill cut off)`);
});
