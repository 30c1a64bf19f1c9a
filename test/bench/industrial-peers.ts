// Peers of the industrial bench, in their own process so their CPU is not counted as the
// gateway's: `modbus N REGISTERS` (N jsmodbus TCP servers, registers changing every 50 ms) or
// `opcua ITEMS` (a node-opcua server whose ITEMS variables all change every second).
// Prints one line `PEERS {...}` with the ports / endpoint, then runs until killed.
import type { TestContext } from 'node:test';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modbusTcpPeer } from '../helpers/industrial.js';
import { opcuaPeer } from '../helpers/opcua-server.js';

const ctx = { after: () => undefined } as unknown as TestContext;
const [kind, a, b] = process.argv.slice(2);
if (kind === 'modbus') {
  const peers = await Promise.all(Array.from({ length: Number(a) }, () => modbusTcpPeer(ctx, Number(b))));
  let n = 0;
  setInterval(() => {
    n++;
    for (const p of peers) for (let i = 0; i < Number(b); i++) p.holding.writeUInt16BE((n + i) % 65536, i * 2);
  }, 50);
  console.log(`PEERS ${JSON.stringify({ ports: peers.map((p) => p.port) })}`);
} else if (kind === 'opcua') {
  const peer = await opcuaPeer(undefined, { extra: Number(a) }, await mkdtemp(join(tmpdir(), 'gatehouse-bench-opcua-')));
  let n = 0;
  setInterval(() => {
    n++;
    for (let i = 0; i < Number(a); i++) peer.values[`Var${i}`] = n + i;
  }, 1000);
  console.log(`PEERS ${JSON.stringify({ endpoint: peer.endpoint })}`);
} else {
  console.error('usage: industrial-peers modbus N REGISTERS | opcua ITEMS');
  process.exit(2);
}
