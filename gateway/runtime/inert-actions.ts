// An action registry whose actions never run: for validating rule sets offline (check-config,
// `rules check`) with the same action kinds and option checks as the running gateway.
import { builtinActionRegistry, type ActionRegistry } from '../../rules/index.js';
import { serialAction } from '../../firmware-bridge/index.js';
import type { SerialLink } from '../../firmware-bridge/index.js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { upstreamActionFactories } from './upstream-actions.js';

export function inertActionRegistry(streamNames?: readonly string[], linkNames?: readonly string[]): ActionRegistry {
  const streams = new Set(streamNames ?? []);
  const links = new Set(linkNames ?? []);
  const registry = builtinActionRegistry({
    publisher: { publish: () => undefined },
    streams: {
      append: () => Promise.resolve(0),
      ...(streamNames ? { hasStream: (n: string) => streams.has(n) } : {}),
    },
  });
  // Only existence is checked offline; an inert link is never written to.
  // Upstream shorthands validate their destination options offline, creating nothing.
  for (const [kind, factory] of upstreamActionFactories({ logger: pino({ level: 'silent' }), registry: new Registry(), dataDir: '.' })) registry.set(kind, factory);
  registry.set('serial', serialAction({ get: (n: string) => (linkNames === undefined || links.has(n) ? ({} as SerialLink) : undefined) }));
  return registry;
}
