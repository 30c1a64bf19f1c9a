// Metrics of the MQTT sources, labelled by source name. Several sources share one registry
// (core/metrics.ts declares idempotently).
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../../../../core/metrics.js';

export interface MqttSourceMetrics {
  messages: Counter<'source' | 'result'>;
  dropped: Counter<'source' | 'reason'>;
  reconnects: Counter<'source'>;
  errors: Counter<'source'>;
  connected: Gauge<'source'>;
  refusedSubscriptions: Gauge<'source'>;
}

export function mqttSourceMetrics(registry: Registry): MqttSourceMetrics {
  return {
    messages: counter(
      registry,
      'gatehouse_mqtt_source_messages_total',
      'Messages of MQTT sources by result: received, acknowledged (committed; PUBACK sent for QoS 1), refused (QoS 1, not acknowledged: delivered again), dropped (QoS 0 refused, over maxMessageBytes, or a topic the source does not take)',
      ['source', 'result'],
    ),
    dropped: counter(
      registry,
      'gatehouse_mqtt_source_messages_dropped_total',
      'Messages of MQTT sources dropped (acknowledged, not taken), by reason: too-large (over maxMessageBytes), unmatched (no configured filter matches: a subscription left in the session), invalid-topic, qos0-refused (a QoS 0 message the store refused)',
      ['source', 'reason'],
    ),
    reconnects: counter(registry, 'gatehouse_mqtt_source_reconnects_total', 'Reconnect attempts of MQTT sources', ['source']),
    errors: counter(registry, 'gatehouse_mqtt_source_errors_total', 'Errors of MQTT sources (connection, refused subscription, refused message)', ['source']),
    connected: gauge(registry, 'gatehouse_mqtt_source_connected', '1 while an MQTT source is connected', ['source']),
    refusedSubscriptions: gauge(
      registry,
      'gatehouse_mqtt_source_subscriptions_refused',
      'Filters of an MQTT source the broker refused at the last subscription (SUBACK 0x80 and up: its ACL or policy); connected, the source receives nothing on them',
      ['source'],
    ),
  };
}
