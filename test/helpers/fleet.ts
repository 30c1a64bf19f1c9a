// Clones of one SD card image, for the fleet tests: in-process gateways started from one config
// (gatewayId raspberrypi, the host name such an image gives every board), each on another machine
// as a test double of its fingerprint (GatewayOptions.machineFingerprint: there is no second board here).
import type { TestContext } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../gateway/config/index.js';
import { createMetricsRegistry } from '../../gateway/metrics/registry.js';
import { startGateway, type Gateway } from '../../gateway/runtime/index.js';
import type { MachineFingerprint } from '../../gateway/upstream/machine.js';

/**
 * Board n's fingerprint: a serial and a MAC address of its own, as readMachineFingerprint gives them
 * (hashed: 16 hex digits each). A MAC of 12 digits, as it was, is no fingerprint the installation id
 * file takes back: each clone's id file read as damaged at its next start, and a new id was made.
 */
export const machine = (n: number): MachineFingerprint => ({ cpuSerial: `${n}`.repeat(16), macs: [`${n}`.repeat(16)] });

export interface Site {
  gw: Gateway;
  /** Its log lines at info level and above, parsed. */
  lines: Array<{ msg: string; level: number; clientId?: string; fix?: string }>;
}

/** A gateway of the config `file` on the board with `fingerprint`, stopped at the end of the test. */
export async function startSite(t: TestContext, file: string, fingerprint: MachineFingerprint): Promise<Site> {
  const lines: Site['lines'] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Site['lines'][number]) });
  const gw = await startGateway(await loadConfig(file, { mqttPort: 0, adminPort: 0 }), {
    logger,
    registry: createMetricsRegistry('test', 'raspberrypi'),
    version: 'test',
    machineFingerprint: async () => fingerprint,
  });
  t.after(() => gw.stop());
  return { gw, lines };
}
