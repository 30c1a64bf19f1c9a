// A broker URL the gateway connects to (an MQTT source, the control broker, the MQTT bridge and
// NATS destinations): checked where the config is, and shown without its credentials. mqtt.js
// parses URLs leniently: a port that is not a number became 1883 (another broker, maybe the
// gateway's own), one out of range failed at start with a bare Node error. The URL names the
// connection in logs, statuses and the retained control status topic, which any subscriber of that
// broker reads: a password in it must not travel there.
import { z } from './zod.js';
import { ipv6UrlProblem } from './bind-host.js';

/** The option of an MQTT broker URL (an MQTT source's, the MQTT bridge's): mqtt://, mqtts://, ws:// or wss:// and a host, and nothing mqtt.js would misread. */
const MQTT_URL = /^(mqtts?|wss?):\/\/[^\s/]+/;

export function mqttBrokerUrlSchema(broker: string) {
  return z
    .string()
    .regex(MQTT_URL, 'must be mqtt://, mqtts://, ws:// or wss:// followed by a host')
    .superRefine((url, ctx) => {
      // A URL without its scheme ('127.0.0.1:1883') is the regex's problem alone: parsed as a URL
      // it also drew 'not a valid URL: the port must be a number', which sent the user to the port.
      if (!MQTT_URL.test(url)) return;
      const p = brokerUrlProblem(url, broker);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    });
}

/** Why mqtt.js could not connect to the URL as meant, or undefined. `broker` names it in the advice ('remote broker'). */
export function brokerUrlProblem(url: string, broker: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const v6 = ipv6UrlProblem(url);
    if (v6) return v6;
    return 'not a valid URL: the port must be a number from 1 to 65535, and @ : / in a user name or password percent-encoded (%40 %3A %2F)';
  }
  if (u.port === '0') return `port 0 cannot be connected to: give the port of the ${broker} (1883, 8883 for TLS)`;
  return undefined;
}

/** A URL without its user info (whatever the password holds), for the target shown in status and logs. */
export function withoutCredentials(url: string): string {
  // host:port without a scheme (NATS takes them): everything up to the last '@' is user info.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const at = url.lastIndexOf('@');
    return at < 0 ? url : url.slice(at + 1);
  }
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    // Not a URL the parser reads: keep nothing between the scheme and an @ that could be a secret.
    return url.replace(/\/\/.*@/, '//');
  }
}
