// The process-wide Prometheus registry is created here and passed to every component.
import { Registry } from '../../core/prom-client.js';
import { registerDefaultMetrics } from './default-metrics.js';
import { gauge } from '../../core/metrics.js';

export function createMetricsRegistry(version: string, gatewayId: string): Registry {
  const registry = new Registry();
  registerDefaultMetrics(registry, 'gatehouse_');
  const info = gauge(registry, 'gatehouse_info', 'Gateway build and identity', ['version', 'gateway_id']);
  info.set({ version, gateway_id: gatewayId }, 1);
  return registry;
}
