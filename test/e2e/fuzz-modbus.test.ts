// Fuzz the Modbus source (gateway/pipeline/sources/modbus/, modbus-serial's parsers in our
// process) with a device that answers garbage, for a bounded time with a deterministic, printed
// seed (FUZZ_SEED, FUZZ_MS override):
//
// - Modbus TCP: a raw TCP server (test/helpers/modbus-raw.ts) answering each request with the
//   answer, an exception, a wrong transaction id, unit or function code, a wrong MBAP length or
//   byte count, a truncated, oversized or duplicated frame, bytes before or after it, random
//   bytes, the answer in pieces or late, no answer, or a closed connection;
// - Modbus RTU over a socat pty pair: the same, plus damaged CRCs, noise between frames and
//   frames mutated as bytes.
//
// The device's registers are a function of unit and address (registerValue, bitValue): every value
// stored for a tag must be the one its register holds (TCP carries no checksum, so there the
// answer's data bytes are never changed while its frame stays whole; on RTU the CRC guards them).
// Asserts: no crash (the test process is the gateway), no wrong value stored, errors counted, the
// log bounded, polling goes on (after the fuzz a good device is read again at once), the heap
// after GC bounded.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Source } from '../../gateway/pipeline/contract.js';
import { metricValue, waitUntil } from '../helpers/index.js';
import { type LogLine, storeIntake, type StoreIntake } from '../helpers/industrial.js';
import { fuzzer, fuzzSettings, heapAfterGc, type Fuzzer } from '../helpers/fuzz.js';
import { bitValue, rawRtuDevice, rawTcpDevice, registerValue, withCrc, withMbap, type Hostile, type Sent } from '../helpers/modbus-raw.js';
import { rtuOptions, startModbus, tcpOptions } from '../helpers/modbus-source.js';
import { socatSkip, startSocat } from '../helpers/socat.js';

const { seed: SEED, ms: DURATION_MS } = fuzzSettings(20261208, 3000);

/** Two units (a TCP gateway or an RS-485 bus), bit and register tables, merged and single reads. */
const DEVICES = [
  {
    name: 'plc',
    unitId: 1,
    groups: [
      {
        name: 'regs',
        intervalMs: 10,
        tags: [
          { name: 'h0', area: 'holding', address: 0 },
          { name: 'h1', area: 'holding', address: 1 },
          { name: 'h10', area: 'holding', address: 10 },
          { name: 'i5', area: 'input', address: 5 },
        ],
      },
      {
        name: 'bits',
        intervalMs: 10,
        tags: [
          { name: 'c3', area: 'coil', address: 3 },
          { name: 'c4', area: 'coil', address: 4 },
          { name: 'd7', area: 'discrete', address: 7 },
        ],
      },
    ],
  },
  {
    name: 'meter',
    unitId: 2,
    groups: [
      {
        name: 'regs',
        intervalMs: 10,
        tags: [
          { name: 'h0', area: 'holding', address: 0 },
          { name: 'h10', area: 'holding', address: 10 },
        ],
      },
    ],
  },
] as const;

/** The value a tag may have: topic modbus/fz/<device>/<tag>. */
const EXPECTED = new Map<string, number | boolean>();
for (const d of DEVICES)
  for (const g of d.groups)
    for (const tag of g.tags)
      EXPECTED.set(
        `modbus/fz/${d.name}/${tag.name}`,
        tag.area === 'coil' || tag.area === 'discrete' ? bitValue(d.unitId, tag.address) : registerValue(d.unitId, tag.address),
      );

/** The answer in 1..4 pieces, each after a few ms (TCP segments, a serial line's chunks). */
function pieces(f: Fuzzer, b: Buffer): Sent['chunks'] {
  const out: Sent['chunks'] = [];
  for (let at = 0; at < b.length; ) {
    const n = f.rnd() < 0.5 ? b.length - at : 1 + f.int(b.length - at);
    out.push({ bytes: b.subarray(at, at + n), delayMs: out.length === 0 ? 0 : f.int(15) });
    at += n;
  }
  return out;
}

const once = (bytes: Buffer, delayMs = 0): Sent => ({ chunks: [{ bytes, delayMs }] });

/**
 * A hostile TCP device: `right` is the MBAP frame of the right answer. The data bytes of a frame
 * that stays well-formed are never changed (no master can tell those on TCP).
 */
function hostileTcp(f: Fuzzer): Hostile {
  return (req, tid, right) => {
    const t = tid ?? 0;
    const unit = req[0] as number;
    const fc = req[1] as number;
    const pdu = right.subarray(6);
    switch (f.int(20)) {
      case 0:
        return once(withMbap(t, Buffer.from([unit, fc | 0x80, f.pick([1, 2, 3, 4, 6, 10, 11, 0, 0xff])])));
      case 1:
        return once(withMbap(t + 1 + f.int(300), pdu)); // another transaction id
      case 2:
        return once(withMbap(t, Buffer.concat([Buffer.from([unit ^ (1 + f.int(255))]), pdu.subarray(1)]))); // another unit
      case 3:
        return once(withMbap(t, Buffer.concat([Buffer.from([unit, f.pick([1, 2, 3, 4, 5, 6, 15, 16, 17, 43, 0x83, 0])]), pdu.subarray(2)]))); // another function
      case 4: {
        // an MBAP length that is not the frame's
        const b = Buffer.from(right);
        b.writeUInt16BE(f.pick([0, 1, 2, pdu.length - 1, pdu.length + 1, pdu.length + 7, 255, 65535, f.int(65536)]), 4);
        return once(b);
      }
      case 5: {
        // a byte count that is not the data's (reads), with the MBAP length following the frame or not
        if (fc > 4) return once(right);
        const b = Buffer.from(pdu);
        b[2] = f.pick([0, 1, (b[2] as number) - 1, (b[2] as number) + 1, (b[2] as number) * 2, 255]);
        return once(withMbap(t, f.rnd() < 0.5 ? b : Buffer.concat([b, f.randomBytes(f.int(8))])));
      }
      case 6:
        return once(right.subarray(0, f.int(right.length))); // cut short, the rest never comes
      case 7:
        return {
          chunks: [
            { bytes: right, delayMs: 0 },
            { bytes: f.randomBytes(1 + f.int(20)), delayMs: f.int(5) },
          ],
        }; // bytes after it
      case 8:
        return once(Buffer.concat([f.randomBytes(1 + f.int(12)), right])); // bytes before it
      case 9:
        return {
          chunks: [
            { bytes: right, delayMs: 0 },
            { bytes: right, delayMs: f.int(5) },
          ],
        }; // twice
      case 10:
        return { chunks: pieces(f, right) };
      case 11:
        return once(right, f.pick([0, 20, 90, 110, 150, 300])); // late (timeout 100 ms)
      case 12:
        return { chunks: [] }; // no answer
      case 13:
        return { chunks: f.rnd() < 0.5 ? [] : [{ bytes: right.subarray(0, f.int(right.length)), delayMs: 0 }], close: true };
      case 14:
        return once(f.randomBytes(f.int(40)));
      case 15: {
        // oversized: an answer longer than the request's (more registers or bits than asked)
        const extra = f.randomBytes(1 + f.int(250));
        const b = Buffer.concat([pdu.subarray(0, 2), Buffer.from([(pdu[2] as number) + extra.length]), pdu.subarray(3), extra]);
        return once(withMbap(t, b.subarray(0, 253)));
      }
      case 16:
        // a header bit flipped (MBAP, unit, function, byte count), the data as it was
        return once(Buffer.concat([f.mutate(right.subarray(0, 9)).subarray(0, 9), right.subarray(9)]));
      case 17:
        // a huge frame: the parser waits for its 64 KiB, which never all come
        return once(Buffer.concat([withMbap(t, Buffer.alloc(0)).fill(0xff, 4, 6), f.randomBytes(1000 + f.int(20000))]));
      default:
        return once(right);
    }
  };
}

/** A hostile RTU device: `right` is the right answer with its CRC. Anything goes: the CRC guards the data. */
function hostileRtu(f: Fuzzer): Hostile {
  return (req, _tid, right) => {
    const unit = req[0] as number;
    const fc = req[1] as number;
    switch (f.int(16)) {
      case 0:
        return once(withCrc(Buffer.from([unit, fc | 0x80, f.pick([1, 2, 3, 4, 6, 10, 11, 0, 0xff])])));
      case 1: {
        const b = Buffer.from(right);
        b[b.length - 1 - f.int(2)]! ^= 1 << f.int(8); // damaged CRC
        return once(b);
      }
      case 2:
        return once(f.mutate(right)); // damaged as bytes (the CRC does not hold any more)
      case 3:
        return once(right.subarray(0, f.int(right.length))); // cut short
      case 4:
        return {
          chunks: [
            { bytes: f.randomBytes(1 + f.int(30)), delayMs: 0 },
            { bytes: right, delayMs: f.int(5) },
          ],
        }; // noise before
      case 5:
        return {
          chunks: [
            { bytes: right, delayMs: 0 },
            { bytes: f.randomBytes(1 + f.int(30)), delayMs: f.int(5) },
          ],
        }; // noise after
      case 6:
        return once(Buffer.concat([right, right])); // twice, in one burst
      case 7:
        // twice with noise between, in one burst (a copy that comes once the next request is out
        // is an answer no master can tell from that one's)
        return once(Buffer.concat([right, f.randomBytes(1 + f.int(8)), right]));
      case 8:
        return { chunks: pieces(f, right) };
      case 9:
        return once(right, f.pick([0, 20, 90, 110, 150])); // late (timeout 100 ms)
      case 10:
        return { chunks: [] };
      case 11:
        return once(f.randomBytes(f.int(60)));
      case 12:
        // another unit's answer with a good CRC (two devices with one address, a crosstalk)
        return once(withCrc(Buffer.concat([Buffer.from([unit ^ (1 + f.int(255))]), right.subarray(1, -2)])));
      case 13:
        // a device padding its answer: the right data, more bytes after it, a CRC over all (its
        // first bytes then hold a good CRC once in 256: the right values all the same)
        return once(withCrc(Buffer.concat([right.subarray(0, -2), f.randomBytes(1 + f.int(4))])));
      default:
        return once(right);
    }
  };
}

interface Campaign {
  intake: StoreIntake;
  source: Source;
  registry: Parameters<typeof metricValue>[0];
  lines: LogLine[];
}

/** The source under fuzz over `link` (tcpOptions or rtuOptions of 'fz'): timeouts of 100 ms, one retry, a short backoff. */
async function startSource(t: TestContext, link: (rest: Record<string, unknown>) => Record<string, unknown>): Promise<Campaign> {
  const intake = await storeIntake(t);
  const { source, deps, logs } = await startModbus(t, link({ timeoutMs: 100, retries: 1, backoff: { initialMs: 10, maxMs: 40 }, devices: DEVICES }), intake);
  return { intake, source, registry: deps.registry, lines: logs };
}

/** The exchanges (when, request, what was sent), those before a wrong value printed with it. */
const trace: Array<{ at: number; line: string }> = [];
function traced(h: Hostile): Hostile {
  return (req, tid, right) => {
    const sent = h(req, tid, right);
    trace.push({
      at: Date.now(),
      line: `${tid ?? ''} req ${req.toString('hex')} -> ${sent.chunks.map((c) => `${c.delayMs}ms:${c.bytes.subarray(0, 40).toString('hex')}${c.bytes.length > 40 ? `..(${c.bytes.length})` : ''}`).join(' ')}${sent.close ? ' close' : ''}`,
    });
    if (trace.length > 50_000) trace.splice(0, 10_000);
    return sent;
  };
}

/** Every stored value is the one its register holds; the count of records per topic. */
async function checkValues(intake: StoreIntake, label: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const r of await intake.records()) {
    const want = EXPECTED.get(r.topic);
    assert.notEqual(want, undefined, `${label}: a record on an unknown topic ${r.topic}`);
    const got = (JSON.parse(r.payload.toString()) as { value: unknown }).value;
    if (got !== want) {
      const near = trace.filter((e) => e.at >= r.receivedAt - 600 && e.at <= r.receivedAt + 20);
      console.log(`# the exchanges before it (stored at ${r.receivedAt}):\n${near.map((e) => `#   ${e.at} ${e.line}`).join('\n')}`);
    }
    assert.equal(got, want, `${label}: ${r.topic} stored ${JSON.stringify(got)}, its register holds ${JSON.stringify(want)} (seed ${SEED})`);
    counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
  }
  return counts;
}

/** The fuzz, then a good device: every tag read again soon (no hang), the oracles. */
async function campaign(c: Campaign, setHostile: (h: Hostile | undefined) => void, hostile: Hostile, label: string): Promise<void> {
  const heap0 = heapAfterGc();
  setHostile(hostile);
  await new Promise((r) => setTimeout(r, DURATION_MS));
  setHostile(undefined);
  const before = await checkValues(c.intake, label);
  const errors = await metricValue(c.registry, 'gatehouse_industrial_read_errors_total');
  assert.ok(errors > 0, `${label}: the device's garbage was counted as read errors`);
  await waitUntil(
    async () => {
      const now = await checkValues(c.intake, label);
      return [...EXPECTED.keys()].every((topic) => (now.get(topic) ?? 0) >= (before.get(topic) ?? 0) + 3);
    },
    `${label}: every tag read 3 more times from the device answering right again (the polling goes on)`,
    15_000,
  );
  await checkValues(c.intake, label);
  assert.equal(c.source.status().state, 'running', `${label}: the source is running`);
  const heapGrowth = heapAfterGc() - heap0;
  // Lines of the log during the campaign: the source logs a repeating fault once a minute per
  // request with its count, not a line per bad frame.
  const perMinute = Math.ceil(DURATION_MS / 60_000);
  const bound = 40 * perMinute;
  const msgs = new Map<string, number>();
  for (const l of c.lines) msgs.set(l.msg, (msgs.get(l.msg) ?? 0) + 1);
  console.log(
    `# ${label}: seed ${SEED}, ${DURATION_MS} ms: ${errors} read errors counted, ${c.lines.length} log lines ${JSON.stringify(Object.fromEntries(msgs))}, heap +${Math.round(heapGrowth / 1024)} KiB`,
  );
  assert.ok(
    c.lines.length <= bound,
    `${label}: ${c.lines.length} log lines in ${DURATION_MS} ms (at most ${bound}): ${JSON.stringify(Object.fromEntries(msgs))}`,
  );
  assert.ok(!c.lines.some((l) => ((l as { level?: number }).level ?? 0) >= 50), `${label}: nothing logged as an error`);
  assert.ok(heapGrowth < 32 * 1024 * 1024, `${label}: heap after GC grew ${heapGrowth} bytes`);
}

test(`fuzz: a Modbus TCP device answering garbage (seed ${SEED})`, async (t) => {
  const f = fuzzer(SEED);
  let hostile: Hostile | undefined;
  const dev = await rawTcpDevice(t, (req, tid, right) => (hostile ? hostile(req, tid, right) : { chunks: [{ bytes: right, delayMs: 0 }] }));
  const c = await startSource(t, (rest) => tcpOptions('fz', dev.port, rest));
  await waitUntil(async () => (await checkValues(c.intake, 'tcp')).size === EXPECTED.size, 'every tag read once from a good device');
  await campaign(c, (h) => (hostile = h), traced(hostileTcp(f)), 'tcp');
  assert.ok(dev.requests > 0);
});

test(`fuzz: a Modbus RTU bus answering garbage (seed ${SEED})`, { skip: socatSkip }, async (t) => {
  const f = fuzzer(SEED ^ 0x5eed);
  const cable = await startSocat(t);
  const dev = await rawRtuDevice(t, cable.dev0);
  const c = await startSource(t, (rest) => rtuOptions('fz', cable.dev1, rest));
  await waitUntil(async () => (await checkValues(c.intake, 'rtu')).size === EXPECTED.size, 'every tag read once from a good device');
  await campaign(c, (h) => (dev.hostile = h), traced(hostileRtu(f)), 'rtu');
  assert.ok(dev.requests > 0);
});
