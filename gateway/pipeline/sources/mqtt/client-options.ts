// The mqtt.js options of an MQTT source's client: the persistent session every gateway client
// starts from (core/mqtt-client.ts), the size limit (core/mqtt-size-guard.ts) and the TLS files.
import type { IClientOptions } from 'mqtt';
import { persistentClientOptions } from '../../../../core/mqtt-client.js';
import { readClientTlsFiles } from '../../../../core/tls-files.js';
import { sourceTlsContext } from './files.js';
import { DEFAULT_SESSION_EXPIRY_SEC, type MqttSourceOptions } from './options.js';
import { withSizeLimit } from '../../../../core/mqtt-size-guard.js';

export function sourceClientOptions(o: MqttSourceOptions): IClientOptions {
  const session = persistentClientOptions({ ...o, sessionExpirySec: o.sessionExpirySec ?? DEFAULT_SESSION_EXPIRY_SEC });
  // The subscriptions are made at every connect (source.ts), not replayed by mqtt.js as well.
  const co = withSizeLimit({ ...session, resubscribe: false }, o.maxMessageBytes);
  // Read and checked here (a pair that does not load is a config error naming its key), again before each reconnect (refreshTls).
  const { ca, cert, key } = readClientTlsFiles({ ca: o.caFile, cert: o.certFile, key: o.keyFile }, sourceTlsContext(o.name));
  if (ca) co.ca = ca;
  if (cert) co.cert = cert;
  if (key) co.key = key;
  return co;
}
