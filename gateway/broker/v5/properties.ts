// The MQTT 5 properties of a packet from a client, checked before any handler sees them.
// mqtt-packet's parser does not refuse two malformations a client can send in a few bytes:
//
// - a string, string pair or binary property whose length runs past the end of the packet is
//   parsed as null (a user property's value, correlation data, a content type...). A null went
//   on with the message to every MQTT 5 subscriber, where generating the PUBLISH threw: the
//   subscriber's connection was closed, and when the publish's commit had been asynchronous (any
//   topic a rule stores) the throw was outside every handler, an uncaught exception that stopped
//   the gateway (found by test/e2e/fuzz-mqtt5.test.ts: a 16-byte PUBLISH);
// - a property given twice (MQTT 5 2.2.2.2: a Protocol Error for every one but User Property, and
//   Subscription Identifier from the server) is parsed as an array, which the handlers take for a
//   number or a string (a topic alias [1, 2], a session expiry [60, 60]: NaN timers).
//
// The first is a Malformed Packet (0x81), the second a Protocol Error (0x82) [MQTT-2.2.2-2].
import type { Packet } from 'mqtt-packet';
import { RC } from './codes.js';

export interface PropertiesProblem {
  reasonCode: number;
  why: string;
}

/** What is wrong with one properties object of a client's packet, or undefined. */
function problemIn(props: unknown, where: string): PropertiesProblem | undefined {
  if (props === undefined || props === null || typeof props !== 'object') return undefined;
  for (const [name, value] of Object.entries(props as Record<string, unknown>)) {
    if (name === 'userProperties') {
      if (typeof value !== 'object' || value === null) return { reasonCode: RC.MALFORMED, why: `malformed user property in ${where}` };
      for (const v of Object.values(value as Record<string, unknown>)) {
        const values = Array.isArray(v) ? (v as unknown[]) : [v];
        if (values.some((x) => typeof x !== 'string')) return { reasonCode: RC.MALFORMED, why: `user property running past the end of the packet in ${where}` };
      }
      continue;
    }
    if (value === null || value === undefined) return { reasonCode: RC.MALFORMED, why: `property ${name} running past the end of the packet in ${where}` };
    if (Array.isArray(value)) return { reasonCode: RC.PROTOCOL_ERROR, why: `property ${name} more than once in ${where} [MQTT-2.2.2-2]` };
  }
  return undefined;
}

/** Why a client's packet must be refused for its properties (the will's too), or undefined when they are sound. */
export function propertiesProblem(p: Packet): PropertiesProblem | undefined {
  const props = 'properties' in p ? p.properties : undefined;
  const problem = problemIn(props, p.cmd.toUpperCase());
  if (problem || p.cmd !== 'connect') return problem;
  return problemIn(p.will?.properties, 'the will of CONNECT');
}
