// The files an mqtt source names: resolved against the config file's folder (config/index.ts),
// checked by check-config, and where they sit in the configuration for the errors of
// core/tls-files.ts readClientTlsFiles (at start; check-config runs the same check by index). A
// module of its own, without zod: the config loader imports it at every start, and the source
// schemas load only when `sources:` is in the config.
import type { ClientTlsContext } from '../../../../core/tls-files.js';

export const MQTT_SOURCE_FILES = [
  ['caFile', 'the CA bundle of the MQTT source'],
  ['certFile', 'the client certificate of the MQTT source'],
  ['keyFile', 'the client key of the MQTT source'],
] as const;

export function sourceTlsContext(name: string, at = `sources.${name}`): ClientTlsContext {
  return { where: { ca: `${at}.caFile`, cert: `${at}.certFile`, key: `${at}.keyFile` }, subject: `MQTT source '${name}'`, code: 'GH_CONFIG_INVALID' };
}
