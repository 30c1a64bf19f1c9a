// The SUBACK codes an mqtt.js client got, one per filter: mqtt.js fails the whole subscribe call
// when one filter is refused, so the codes are read from the packet itself.
import type mqtt from 'mqtt';

/** The SUBACK codes for `filters` (3.1.1: 0x80 for a refused filter; MQTT 5: its reason code). */
export function subackCodes(c: mqtt.MqttClient, filters: string | string[], qos: 0 | 1): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (p: mqtt.Packet): void => {
      if (p.cmd !== 'suback') return;
      c.off('packetreceive', onPacket);
      resolve(p.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos)));
    };
    c.on('packetreceive', onPacket);
    c.subscribe(filters, { qos }, () => undefined);
  });
}
