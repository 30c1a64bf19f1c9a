// The TLS files of an MQTT source, read and checked as they will be used: the CA bundle must hold
// a certificate, the client certificate and key must be one pair (and come together). Run at start
// (source.ts) and by check-config (the kind's preflight), so a bad file is a config error naming
// its key, not an OpenSSL message thrown from inside mqtt.js that stops the gateway.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { GatehouseError, errorMessage } from '../../../../core/errors.js';
import type { MqttSourceOptions } from './options.js';

export interface MqttSourceTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

type TlsPaths = Pick<MqttSourceOptions, 'name' | 'caFile' | 'certFile' | 'keyFile'>;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** Read caFile, certFile and keyFile; throws GH_CONFIG_INVALID naming the key when one does not load. */
export function readSourceTls(o: TlsPaths): MqttSourceTls {
  const bad = (key: string, message: string, hint: string): GatehouseError =>
    new GatehouseError('GH_CONFIG_INVALID', `MQTT source '${o.name}': ${message}`, { where: `sources.${o.name}.${key}`, hint });
  const out: MqttSourceTls = {};
  for (const [k, file] of [
    ['ca', o.caFile],
    ['cert', o.certFile],
    ['key', o.keyFile],
  ] as const) {
    if (file === undefined) continue;
    try {
      out[k] = readFileSync(file);
    } catch (err) {
      throw bad(`${k}File`, `cannot read ${k}File ${file}: ${errorMessage(err)}`, 'check the path and its permissions');
    }
  }
  if (out.ca !== undefined) {
    const first = PEM_CERT.exec(out.ca.toString('latin1'))?.[0];
    if (first === undefined || !parses(first))
      throw bad(
        'caFile',
        `caFile ${o.caFile} holds no PEM certificate`,
        "caFile must be the PEM certificate(s) of the CA that issued the broker's certificate (-----BEGIN CERTIFICATE-----), not a key",
      );
  }
  if ((out.cert === undefined) !== (out.key === undefined)) {
    throw bad(out.cert ? 'keyFile' : 'certFile', 'certFile and keyFile go together (mutual TLS)', 'set both, or neither');
  }
  if (out.cert !== undefined && out.key !== undefined) {
    try {
      createSecureContext({ cert: out.cert, key: out.key });
    } catch (err) {
      throw bad(
        'certFile',
        `certFile ${o.certFile} and keyFile ${o.keyFile} do not load as a pair: ${errorMessage(err)}`,
        'certFile and keyFile must be PEM files of one key pair (the key the certificate was issued for)',
      );
    }
  }
  return out;
}

function parses(pem: string): boolean {
  try {
    return new X509Certificate(pem).fingerprint256.length > 0;
  } catch {
    return false;
  }
}
