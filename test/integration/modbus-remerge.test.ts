// A merged read refused with exception 0x02 is split into one request per tag (so the refusal lands
// on the tag that caused it). The split was for good: a refusal that passed (a PLC being
// reprogrammed, a data block missing for a moment) left the group reading tag by tag until a
// restart (found in a plant trial: 20 requests a poll where 1 did, for ever). Now the merged read
// is tried again once every part has read for a while (remerge.ts); a device that refuses the
// range for good (a hole between the tags) is probed ever more rarely, and its probes are no errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitUntil } from '../helpers/index.js';
import { modbusTcpPeer, storeIntake } from '../helpers/industrial.js';
import { deviceStatus, modbusDetails, payloads, startModbus, tcpOptions } from '../helpers/modbus-source.js';

/** An FC3 answer of more than one register turned into exception 0x02 (the read of a range refused). */
function refuseRanges(on: () => boolean, refused: { n: number }) {
  return (a: Buffer): Buffer => {
    if (!on() || a.length <= 9 || a[7] !== 3 || (a[8] as number) <= 2) return a;
    refused.n++;
    const e = Buffer.from(a.subarray(0, 9));
    e.writeUInt16BE(3, 4);
    e[7] = 0x83;
    e[8] = 0x02;
    return e;
  };
}

const tags = Array.from({ length: 20 }, (_, i) => ({ name: `h${i}`, area: 'holding', address: i }));

test('a refusal that passes: the group reads its tags in one request again', async (t) => {
  const peer = await modbusTcpPeer(t);
  for (let i = 0; i < 20; i++) peer.holding.writeUInt16BE(100 + i, i * 2);
  let refusing = true;
  peer.tamper = refuseRanges(() => refusing, { n: 0 });
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    tcpOptions('s', peer.port, { publish: 'group', devices: [{ name: 'd', unitId: 1, groups: [{ name: 'g', intervalMs: 20, tags }] }] }),
    intake,
  );
  const requests = () => modbusDetails(source).devices[0]?.groups[0]?.requests;
  await waitUntil(() => requests() === 20, 'split after the refusal', 5000);
  refusing = false;
  await waitUntil(() => requests() === 1, 'merged again once every tag read', 10_000);
  const last = (await payloads(intake, 'modbus/s/d/g')).at(-1) as { values: Record<string, number> };
  assert.equal(last.values.h0, 100);
  assert.equal(last.values.h19, 119);
});

test('a range refused for good (each tag read alone): probed ever more rarely, the probes are no errors, every tag keeps being read', async (t) => {
  const peer = await modbusTcpPeer(t);
  const refused = { n: 0 };
  peer.tamper = refuseRanges(() => true, refused);
  const intake = await storeIntake(t);
  const { source } = await startModbus(
    t,
    tcpOptions('h', peer.port, { publish: 'group', devices: [{ name: 'd', unitId: 1, groups: [{ name: 'g', intervalMs: 20, tags }] }] }),
    intake,
  );
  // The first refusal, then probes after 10, 20, 40 polls of every tag read (70 polls, ~1.5 s).
  await waitUntil(() => refused.n >= 4, 'three probes refused', 20_000);
  assert.equal(deviceStatus(source)?.readErrors.exception, 1, 'one exception counted: the first refusal');
  assert.deepEqual(deviceStatus(source)?.tagErrors, {});
  const polls = (await payloads(intake, 'modbus/h/d/g')).length;
  assert.ok(polls >= 70, `${polls} polls`);
  assert.ok(refused.n <= 5, `${refused.n} refusals in ${polls} polls: probes back off`);
});
