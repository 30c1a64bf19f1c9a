// The process-wide Prometheus registry is created here and passed to every component.
import { Registry, collectDefaultMetrics, Gauge } from 'prom-client';

export function createMetricsRegistry(version: string, gatewayId: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const info = new Gauge({ name: 'gatehouse_info', help: 'Gateway build and identity', labelNames: ['version', 'gateway_id'], registers: [registry] });
  info.set({ version, gateway_id: gatewayId }, 1);
  return registry;
}
