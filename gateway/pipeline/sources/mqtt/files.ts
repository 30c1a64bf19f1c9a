// The files an mqtt source names: resolved against the config file's folder (config/index.ts) and
// checked by check-config. A module of its own, without zod: the config loader imports it at
// every start, and the source schemas load only when `sources:` is in the config.
export const MQTT_SOURCE_FILES = [
  ['caFile', 'the CA bundle of the MQTT source'],
  ['certFile', 'the client certificate of the MQTT source'],
  ['keyFile', 'the client key of the MQTT source'],
] as const;
