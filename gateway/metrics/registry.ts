// The process-wide Prometheus registry is created here and passed to every component.
import { Registry, collectDefaultMetrics } from '../../core/prom-client.js';
import { gauge } from '../../core/metrics.js';

export function createMetricsRegistry(version: string, gatewayId: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const info = gauge(registry, 'gatehouse_info', 'Gateway build and identity', ['version', 'gateway_id']);
  info.set({ version, gateway_id: gatewayId }, 1);
  return registry;
}
