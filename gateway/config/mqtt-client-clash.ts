// Two MQTT connections of one gateway with one clientId on one broker (two MQTT sources, a source
// and the MQTT bridge destination, the control broker's connection): the broker hands the session
// to each in turn and closes the other's connection, again and again, for as long as the gateway
// runs (MQTT 3.1.1 3.1.4-2), and each takeover drops what the other had in flight. A copied
// `sources:` block is the usual way to get there; check-config and start refuse it.
import { GatehouseError } from '../../core/errors.js';
import type { GatehouseConfig } from './schema.js';

const DEFAULT_PORTS: Record<string, string> = { 'mqtt:': '1883', 'tcp:': '1883', 'mqtts:': '8883', 'ssl:': '8883', 'tls:': '8883', 'ws:': '80', 'wss:': '443' };

/** host:port of a broker URL (the default port of its scheme when it has none), or undefined when it does not parse. */
function brokerOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const u = new URL(url);
    return `${u.hostname.toLowerCase()}:${u.port || DEFAULT_PORTS[u.protocol] || ''}`;
  } catch {
    return undefined;
  }
}

/** Every second connection with the clientId of an earlier one on the same broker. */
export function mqttClientClashes(config: GatehouseConfig): GatehouseError[] {
  const clients: Array<{ who: string; where: string; url: unknown; clientId: unknown }> = [];
  for (const [i, s] of ((config.sources ?? []) as Array<Record<string, unknown>>).entries()) {
    if (s.type === 'mqtt' && s.enabled !== false)
      clients.push({ who: `MQTT source '${String(s.name)}'`, where: `sources.${i}.clientId`, url: s.url, clientId: s.clientId });
    // A sparkplug source without url is a client of the embedded broker (its default clientId is one per gateway).
    if (s.type === 'sparkplug' && s.enabled !== false)
      clients.push({
        who: `sparkplug source '${String(s.name)}'`,
        where: `sources.${i}.clientId`,
        url: s.url ?? 'mqtt://embedded-broker',
        clientId: s.clientId,
      });
  }
  for (const [i, e] of (config.exporters ?? []).entries()) {
    const d = e.destination as { type?: string; url?: unknown; clientId?: unknown };
    if (d.type === 'mqtt') clients.push({ who: `exporter '${e.name}'`, where: `exporters.${i}.destination.clientId`, url: d.url, clientId: d.clientId });
  }
  const up = config.control.upstream;
  if (up)
    clients.push({
      who: 'the control broker connection',
      where: 'control.upstream.clientId',
      url: up.url,
      clientId: up.clientId ?? `gatehouse-control-${config.gatewayId}`,
    });
  const seen = new Map<string, string>();
  const problems: GatehouseError[] = [];
  for (const c of clients) {
    const broker = brokerOf(c.url);
    if (broker === undefined || typeof c.clientId !== 'string') continue;
    const key = `${broker}\n${c.clientId}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, c.who);
      continue;
    }
    problems.push(
      new GatehouseError(
        'GH_CONFIG_INVALID',
        `${first} and ${c.who} both connect to ${broker} with clientId '${c.clientId}': the broker would close one connection each time the other connects, for as long as the gateway runs`,
        {
          where: c.where,
          hint: 'give each connection its own clientId (one MQTT source can subscribe to several topics: list them under its topics)',
        },
      ),
    );
  }
  return problems;
}
