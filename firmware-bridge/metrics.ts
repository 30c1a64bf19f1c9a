// Serial metrics on the registry passed in. Several links share one registry: core/metrics.ts
// declares each metric once per registry and returns it afterwards (no module-level state).
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../core/metrics.js';

export interface SerialMetrics {
  linkUp: Gauge<'link'>;
  paused: Gauge<'link'>;
  pauses: Counter<'link'>;
  framesIn: Counter<'link'>;
  bytesIn: Counter<'link'>;
  framesOut: Counter<'link'>;
  bytesOut: Counter<'link'>;
  reconnects: Counter<'link'>;
  frameErrors: Counter<'link' | 'reason'>;
  decodeErrors: Counter<'link'>;
  acks: Counter<'link' | 'kind'>;
  duplicates: Counter<'link'>;
  commandsFailed: Counter<'link' | 'reason'>;
}

export function serialMetrics(registry: Registry): SerialMetrics {
  return {
    linkUp: gauge(registry, 'gatehouse_serial_link_up', '1 while the serial port is open', ['link']),
    paused: gauge(registry, 'gatehouse_serial_paused', '1 while reading the port is paused by backpressure (maxInFlight frames not committed)', ['link']),
    pauses: counter(registry, 'gatehouse_serial_pauses_total', 'Times reading the port paused by backpressure', ['link']),
    framesIn: counter(registry, 'gatehouse_serial_frames_in_total', 'Frames decoded and handed on', ['link']),
    bytesIn: counter(registry, 'gatehouse_serial_bytes_in_total', 'Bytes read from the port', ['link']),
    framesOut: counter(registry, 'gatehouse_serial_frames_out_total', 'Frames written (ACKs and commands)', ['link']),
    bytesOut: counter(registry, 'gatehouse_serial_bytes_out_total', 'Bytes written to the port', ['link']),
    reconnects: counter(registry, 'gatehouse_serial_reconnects_total', 'Times the port was lost and retried', ['link']),
    frameErrors: counter(registry, 'gatehouse_serial_frame_errors_total', 'Broken frames (crc, overlong, truncated, bad-escape, bad-encoding, junk)', [
      'link',
      'reason',
    ]),
    decodeErrors: counter(registry, 'gatehouse_serial_decode_errors_total', 'Frames whose payload did not decode with the codec', ['link']),
    acks: counter(registry, 'gatehouse_serial_acks_total', 'Acknowledged mode replies written (kind: ack|nak|dropped)', ['link', 'kind']),
    duplicates: counter(registry, 'gatehouse_serial_duplicates_total', 'Resent frames dropped by the dedup window', ['link']),
    commandsFailed: counter(
      registry,
      'gatehouse_serial_commands_failed_total',
      'Downlink commands not written (reason: not-open, queue-full, codec, write), each lost',
      ['link', 'reason'],
    ),
  };
}
