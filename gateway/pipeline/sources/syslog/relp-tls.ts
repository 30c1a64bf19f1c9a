// What the log says when a RELP sender's TLS handshake fails on a relp listener with tls: the
// sender's fix, told apart by node's error code. Tried against rsyslog's omrelp 8.2302 (librelp
// 1.11): its GnuTLS client (the default) without a certificate of its own (tls.myCert) offers
// anonymous suites only (librelp's isAnonAuth: "NORMAL:+ANON-DH"), which no certificate-serving
// server shares: node says "no shared cipher".

const PLAIN = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

/** The rate-limit key and the line of a failed RELP handshake; `caRequired`: relp.tls.ca is set. */
export function relpTlsLine(err: Error, caRequired: boolean): [key: string, line: string] {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ERR_SSL_NO_SHARED_CIPHER')
    return [
      'relp-tls-anon',
      'syslog source: a RELP sender offered no cipher a certificate can serve (no shared cipher): rsyslog\'s omrelp with GnuTLS and no certificate of its own offers anonymous TLS only. Give its action tls.myCert and tls.myPrivKey, or load omrelp with tls.tlslib="openssl" (docs/syslog-source.md)',
    ];
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' || code === 'ERR_SSL_NO_CERTIFICATES_RETURNED')
    return [
      'relp-tls-no-cert',
      'syslog source: a RELP sender presented no certificate and relp.tls.ca requires one: give its omrelp action tls.myCert and tls.myPrivKey, signed by a CA in relp.tls.ca',
    ];
  if (PLAIN.has(code))
    return [
      'relp-tls-plain',
      'syslog source: a plain RELP sender connected to the relp port, which serves TLS: closed (set its omrelp action tls="on", see docs/syslog-source.md)',
    ];
  // TLS 1.3: a client certificate the server refuses, or a client refusing the server's, often
  // shows as a reset or an alert: which side refused is not told apart
  return [
    'relp-tls-failed',
    caRequired
      ? "syslog source: a RELP sender's TLS handshake failed: one whose certificate no CA in relp.tls.ca signs (or expired), or one refusing the gateway's (its tls.caCert, tls.permittedPeer)"
      : "syslog source: a RELP sender's TLS handshake failed: one refusing the gateway's certificate (its tls.caCert, tls.permittedPeer)",
  ];
}
