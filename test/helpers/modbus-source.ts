// The Modbus source under test, as the Modbus tests start and read it: one rig for the files that
// test it against a jsmodbus peer or a raw device, over TCP or a socat pty pair (modbus-outage,
// modbus-values, modbus-tcp, modbus-flaky-log, modbus-rtu*, e2e/fuzz-modbus), so that each test
// says only its options and what it checks.
import type { TestContext } from 'node:test';
import { modbusKind, modbusOptionsSchema } from '../../gateway/pipeline/sources/modbus/index.js';
import type { Source } from '../../gateway/pipeline/contract.js';
import type { SourceDeps } from '../../gateway/pipeline/sources/kind.js';
import { metricValue, waitUntil } from './index.js';
export { countOf, payloads, valuesOf } from './committed.js';
import { capturedLogger, type LogLine, sourceDeps, type StoreIntake } from './industrial.js';

export interface ModbusRun {
  source: Source;
  deps: SourceDeps;
  /** The source's warnings and errors, parsed. */
  logs: LogLine[];
}

/** A Modbus TCP source's options: `name` polling 127.0.0.1:`port`, with the rest of its options. */
export function tcpOptions(name: string, port: number, rest: Record<string, unknown>): Record<string, unknown> {
  return { type: 'modbus', name, tcp: { host: '127.0.0.1', port }, ...rest };
}

/** A Modbus RTU source's options: `name` on the serial port `path` (a socat pty's end) at `baudRate`. */
export function rtuOptions(name: string, path: string, rest: Record<string, unknown>, baudRate = 38400): Record<string, unknown> {
  return { type: 'modbus', name, rtu: { path, baudRate }, ...rest };
}

/**
 * Creates a Modbus source from `raw` (its options as a config file has them, checked by the
 * schema), starts it on `intake` and stops it at the end of the test. Its log is captured unless
 * `extra` brings its own logger; `extra` also carries a localBus's publish/subscribe.
 */
export async function startModbus(t: TestContext, raw: Record<string, unknown>, intake: StoreIntake, extra: Partial<SourceDeps> = {}): Promise<ModbusRun> {
  const { logger, lines: logs } = capturedLogger();
  const deps = sourceDeps(t, { logger, ...extra });
  const source = await modbusKind.create(modbusOptionsSchema.parse(raw), deps);
  await source.start(intake);
  t.after(() => source.stop());
  return { source, deps, logs };
}

/** One device `d` polling one holding register, tag `n` at address 0, every `intervalMs`. */
export function oneTagDevice(intervalMs = 20, name = 'd', tag = 'n'): Record<string, unknown> {
  return { name, groups: [{ intervalMs, tags: [{ name: tag, area: 'holding', address: 0 }] }] };
}

export interface ModbusDeviceStatus {
  name: string;
  state: string;
  tagErrors: Record<string, string>;
  readErrors: Record<string, number>;
  groups: { requests: number; overruns: number }[];
  lastGoodRead: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

/** What status().details holds for a Modbus source (the fields these tests read). */
export interface ModbusDetails {
  connected: boolean;
  gaps: number;
  reconnects: number;
  writes: { ok: number; refused: number; failed: number };
  devices: ModbusDeviceStatus[];
  /** The connection's last error and its time. */
  lastError: string | null;
  lastErrorAt: string | null;
}

// details is a record for every kind; the Modbus kind fills it with these fields.
export const modbusDetails = (source: Source): ModbusDetails => source.status().details as unknown as ModbusDetails;

/** A device's status by name (the first device without a name). */
export function deviceStatus(source: Source, name?: string): ModbusDeviceStatus | undefined {
  const devices = modbusDetails(source).devices;
  return name === undefined ? devices[0] : devices.find((d) => d.name === name);
}

/** gatehouse_industrial_read_errors_total summed over the series that match `labels`. */
export const readErrors = (deps: SourceDeps, labels: Record<string, string>): Promise<number> =>
  metricValue(deps.registry, 'gatehouse_industrial_read_errors_total', labels);

/** Waits until gatehouse_industrial_read_errors_total{labels} reaches `atLeast`. */
export async function untilReadErrors(deps: SourceDeps, labels: Record<string, string>, atLeast: number, what: string, timeoutMs?: number): Promise<void> {
  await waitUntil(() => readErrors(deps, labels).then((v) => v >= atLeast), what, timeoutMs);
}
