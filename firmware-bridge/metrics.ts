// Serial metrics on the registry passed in. Several links share one registry, so a metric is
// created once per registry and looked up afterwards (no module-level state).
import { Counter, Gauge, type Registry } from 'prom-client';

export interface SerialMetrics {
  linkUp: Gauge<'link'>;
  framesIn: Counter<'link'>;
  bytesIn: Counter<'link'>;
  framesOut: Counter<'link'>;
  bytesOut: Counter<'link'>;
  reconnects: Counter<'link'>;
  frameErrors: Counter<'link' | 'reason'>;
  decodeErrors: Counter<'link'>;
  acks: Counter<'link' | 'kind'>;
  duplicates: Counter<'link'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

export function serialMetrics(registry: Registry): SerialMetrics {
  const up = registry.getSingleMetric('gatehouse_serial_link_up');
  return {
    linkUp: (up as Gauge<'link'> | undefined) ?? new Gauge({ name: 'gatehouse_serial_link_up', help: '1 while the serial port is open', labelNames: ['link'], registers: [registry] }),
    framesIn: counter(registry, 'gatehouse_serial_frames_in_total', 'Frames decoded and handed on', ['link']),
    bytesIn: counter(registry, 'gatehouse_serial_bytes_in_total', 'Bytes read from the port', ['link']),
    framesOut: counter(registry, 'gatehouse_serial_frames_out_total', 'Frames written (ACKs and commands)', ['link']),
    bytesOut: counter(registry, 'gatehouse_serial_bytes_out_total', 'Bytes written to the port', ['link']),
    reconnects: counter(registry, 'gatehouse_serial_reconnects_total', 'Times the port was lost and retried', ['link']),
    frameErrors: counter(registry, 'gatehouse_serial_frame_errors_total', 'Broken frames (crc, overlong, truncated, bad-escape, bad-encoding, junk)', ['link', 'reason']),
    decodeErrors: counter(registry, 'gatehouse_serial_decode_errors_total', 'Frames whose payload did not decode with the codec', ['link']),
    acks: counter(registry, 'gatehouse_serial_acks_total', 'Acknowledged mode replies written (kind: ack|nak|dropped)', ['link', 'kind']),
    duplicates: counter(registry, 'gatehouse_serial_duplicates_total', 'Resent frames dropped by the dedup window', ['link']),
  };
}
