// Metrics of the MQTT sources, labelled by source name. Several sources share one registry: the
// first creates each metric, the others reuse it.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface MqttSourceMetrics {
  messages: Counter<'source' | 'result'>;
  reconnects: Counter<'source'>;
  errors: Counter<'source'>;
  connected: Gauge<'source'>;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function mqttSourceMetrics(registry: Registry): MqttSourceMetrics {
  const registers = [registry];
  return {
    messages: reuse(
      registry,
      'gatehouse_mqtt_source_messages_total',
      () =>
        new Counter({
          name: 'gatehouse_mqtt_source_messages_total',
          help: 'Messages of MQTT sources by result: received, acknowledged (committed, PUBACK sent), refused (QoS 1, not acknowledged: redelivered), dropped (QoS 0 refused)',
          labelNames: ['source', 'result'] as const,
          registers,
        }),
    ),
    reconnects: reuse(
      registry,
      'gatehouse_mqtt_source_reconnects_total',
      () =>
        new Counter({ name: 'gatehouse_mqtt_source_reconnects_total', help: 'Reconnect attempts of MQTT sources', labelNames: ['source'] as const, registers }),
    ),
    errors: reuse(
      registry,
      'gatehouse_mqtt_source_errors_total',
      () =>
        new Counter({
          name: 'gatehouse_mqtt_source_errors_total',
          help: 'Errors of MQTT sources (connection, refused subscription, refused message)',
          labelNames: ['source'] as const,
          registers,
        }),
    ),
    connected: reuse(
      registry,
      'gatehouse_mqtt_source_connected',
      () => new Gauge({ name: 'gatehouse_mqtt_source_connected', help: '1 while an MQTT source is connected', labelNames: ['source'] as const, registers }),
    ),
  };
}
