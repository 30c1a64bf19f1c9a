// All serial links of a gateway: start/stop together, status for /api/links, lookup by name
// (rule action `serial`).
import { GatehouseError } from '../core/errors.js';
import { createSerialLink, type SerialLink, type SerialLinkDeps, type SerialLinkStatus } from './link.js';
import type { SerialLinkOptions, SerialLinkOptionsInput } from './options.js';

export interface SerialBridge {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): SerialLinkStatus[];
  get(name: string): SerialLink | undefined;
}

export function createSerialBridge(options: Array<SerialLinkOptionsInput | SerialLinkOptions>, deps: SerialLinkDeps): SerialBridge {
  const links = new Map<string, SerialLink>();
  for (const o of options) {
    const link = createSerialLink(o, deps);
    if (links.has(link.name)) {
      throw new GatehouseError('GH_CONFIG_INVALID', `duplicate serial link name '${link.name}'`, {
        where: `serial.${link.name}`,
        hint: 'give each link a unique name',
      });
    }
    // One port, one reader: the second link would retry "Cannot lock port" forever.
    const same = [...links.values()].find((l) => l.options.path === link.options.path);
    if (same) {
      throw new GatehouseError('GH_CONFIG_INVALID', `serial links '${same.name}' and '${link.name}' both use the port ${link.options.path}`, {
        where: `serial.${link.name}.path`,
        hint: 'a port can be opened by one link only: remove one of the links, or give each its own device path',
      });
    }
    links.set(link.name, link);
  }
  return {
    // Links open in parallel; a missing device doesn't fail start (the link keeps retrying).
    async start() {
      await Promise.all([...links.values()].map((l) => l.start()));
    },
    async stop() {
      await Promise.all([...links.values()].map((l) => l.stop()));
    },
    status: () => [...links.values()].map((l) => l.status()),
    get: (name) => links.get(name),
  };
}
