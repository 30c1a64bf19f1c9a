// The STATUS= lines systemd shows for the gateway (`systemctl status gatehouse`, "Status:"): what
// the start waits for, in the words `gatehouse status` and /healthz use for it (waiting-admin.ts),
// and where a running gateway listens. service-notify.ts sends them.
import type { OpenWait } from '../store/index.js';
import type { Gateway } from './index.js';
import { sourceListenerWords, sourceListeners } from './source-listeners.js';
import { waitingState } from './waiting-admin.js';
import { listenerUrl } from '../broker/listeners.js';

/** Before the store is open: opening it may repair a damaged store or read a backlog's tallies. */
export function openingStatus(storePath: string): string {
  return `starting: opening the store ${storePath}`;
}

/** The start waits for disk space to open the store (it may wait for hours; the start timeout is extended meanwhile). */
export function waitingStatus(w: OpenWait, storePath: string): string {
  const s = waitingState(w, storePath) as { waitingFor: string; attempts: number; freeBytes: number | null; neededBytes: number };
  const free = s.freeBytes === null ? 'unknown' : `${s.freeBytes} bytes`;
  return `NOT STARTED: waiting for ${s.waitingFor} (${s.attempts} attempt${s.attempts === 1 ? '' : 's'}; free ${free}, needed about ${s.neededBytes}): ${w.reason}; \`gatehouse status\` says what to free`;
}

/** Ready: where it listens (the broker, the admin API, the network sources). */
export function runningStatus(gateway: Pick<Gateway, 'broker' | 'admin'> & { sources?: Pick<Gateway['sources'], 'status'> }): string {
  const mqtt = gateway.broker.addresses().map(listenerUrl);
  const admin = gateway.admin?.address();
  const sources = gateway.sources ? sourceListenerWords(sourceListeners(gateway.sources.status())) : [];
  return `running: MQTT on ${mqtt.join(', ')}${admin ? `, admin API on ${admin.tls ? 'https' : 'http'}://${hostPort(admin.host, admin.port)}` : ''}${sources.map((w) => `, ${w}`).join('')}`;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
