// The identity a verified client certificate gives its client on a listener with tls.identity
// (mosquitto's use_identity_as_username / use_subject_as_username): its subject's common name, or
// its whole subject, becomes the client's user name for the ACL (%u, acl.users), principal(), the
// rate limits of a user of that name, the logs and the clients list. The certificate is the
// credential: the CONNECT's user name and password are not read (as mosquitto; AWS IoT's device
// SDKs put their own name and version in the user name), so a device cannot name itself another.
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { listenerName, type ListenerOptions } from './options.js';

export interface ListenerIdentity {
  mode: 'cn' | 'subject';
  clientIdMustMatch: boolean;
}

/** The listeners whose certificates give an identity: name -> how. */
export function listenerIdentities(listeners: readonly ListenerOptions[]): Map<string, ListenerIdentity> {
  const out = new Map<string, ListenerIdentity>();
  listeners.forEach((l, i) => {
    const mode = l.tls?.identity;
    if (mode === 'cn' || mode === 'subject') out.set(listenerName(listeners, i), { mode, clientIdMustMatch: l.tls!.clientIdMustMatchIdentity });
  });
  return out;
}

/**
 * The verified client certificate of `socket`: the identity `mode` takes from it (undefined: the
 * certificate has no CN), and its subject when it is the identity or the refusal's log needs it
 * (RFC 2253, most specific first: 'CN=dev1,O=Acme,C=DE', as mosquitto's use_subject_as_username
 * writes it for ASCII names). undefined when the socket has no verified certificate.
 */
export function certificateIdentity(
  socket: Socket | undefined,
  mode: ListenerIdentity['mode'],
): { subject: string | undefined; identity: string | undefined } | undefined {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (typeof tls?.getPeerCertificate !== 'function' || tls.authorized !== true) return undefined;
  const peer = tls.getPeerCertificate();
  if (!peer.raw || peer.raw.length === 0) return undefined;
  // node writes the subject one attribute a line, in the certificate's order, values escaped as
  // RFC 2253 says; parsing the certificate again costs ~0.1-0.3 ms, so only when needed
  const rfc2253 = (): string => new X509Certificate(peer.raw).subject.split('\n').reverse().join(',');
  if (mode === 'subject') {
    const subject = rfc2253();
    return { subject, identity: subject === '' ? undefined : subject };
  }
  // several CNs: the first, as mosquitto (node gives them as an array)
  const cn: unknown = (peer.subject as unknown as Record<string, unknown> | undefined)?.CN;
  const first = Array.isArray(cn) ? (cn[0] as unknown) : cn;
  return typeof first === 'string' && first !== '' ? { subject: undefined, identity: first } : { subject: rfc2253(), identity: undefined };
}
