// mqtt-packet (the parser and writer under aedes and the MQTT 5 layer) calls the `debug` package
// 10-20 times per packet. A debug instance is `function debug(...args)`: every call builds its
// rest-argument array before it finds its namespace disabled, which made 13.9% of the gateway's
// allocations at 5,000 msgs/s (docs/benchmarks.md, round 3) and so part of the scavenges behind
// the PUBACK p99. This module hands mqtt-packet no-op debug instances for the namespaces DEBUG
// does not enable, so a disabled call allocates nothing; `DEBUG=mqtt-packet:* gatehouse start`
// still prints everything.
//
// It works by replacing the `debug` module's exports in the CommonJS cache (as seen from
// mqtt-packet) with a wrapper, so it must run before mqtt-packet is first loaded: it is the first
// import of gateway/cli/main.ts, gateway/runtime/index.ts and gateway/broker/index.ts. Running it
// again is harmless. `quietPacketDebug.namespaces()` lists what the wrapper was asked for (a
// test checks mqtt-packet got its instances through it).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

interface DebugInstance {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  extend(sub: string, delimiter?: string): DebugInstance;
  destroy(): boolean;
}

interface CreateDebug {
  (namespace: string): DebugInstance;
  enabled(namespace: string): boolean;
  /** Set on our wrapper: what it was asked for. */
  gatehouseQuiet?: string[];
}

const asked: string[] = [];

function install(): void {
  const here = createRequire(import.meta.url);
  let packetMain: string;
  try {
    packetMain = here.resolve('mqtt-packet');
  } catch {
    return; // not installed: nothing to quieten
  }
  const fromPacket = createRequire(join(dirname(packetMain), 'parser.js'));
  const debugPath = fromPacket.resolve('debug');
  const real = fromPacket('debug') as CreateDebug;
  if (real.gatehouseQuiet) return;
  const wrapper = ((namespace: string): DebugInstance => {
    if (asked.length < 100) asked.push(namespace);
    if (!namespace.startsWith('mqtt-packet') || real.enabled(namespace)) return real(namespace);
    const noop = (() => undefined) as unknown as DebugInstance;
    noop.enabled = false;
    noop.namespace = namespace;
    noop.extend = (sub: string, delimiter = ':') => wrapper(`${namespace}${delimiter}${sub}`);
    noop.destroy = () => false;
    return noop;
  }) as CreateDebug;
  // Everything else the module offers (enable, disable, formatters, ...) stays the real one's.
  Object.assign(wrapper, real);
  wrapper.gatehouseQuiet = asked;
  const cached = here.cache[debugPath];
  if (cached) cached.exports = wrapper;
}

install();

/** The namespaces the wrapper handed out (empty when mqtt-packet loaded before it). */
export function quietDebugNamespaces(): readonly string[] {
  return asked;
}
