// Where an MQTT source's TLS files sit in the configuration, for the errors of
// core/tls-files.ts readClientTlsFiles (at start; check-config runs the same check by index).
import type { ClientTlsContext } from '../../../../core/tls-files.js';

export function sourceTlsContext(name: string, at = `sources.${name}`): ClientTlsContext {
  return { where: { ca: `${at}.caFile`, cert: `${at}.certFile`, key: `${at}.keyFile` }, subject: `MQTT source '${name}'`, code: 'GH_CONFIG_INVALID' };
}
