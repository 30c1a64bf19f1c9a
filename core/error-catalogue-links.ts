// Error codes of upstream destinations and the sources beside the broker (serial, industrial, files, http): a section of the error catalogue (error-catalogue.ts, where the
// rules of the catalogue are). A code never changes meaning once released; add new ones at the END
// of their group.
import type { ErrorSpec } from './error-spec.js';

export const LINKS_ERRORS = {
  // upstream
  GH_EXPORT_RETRYABLE: {
    group: 'upstream',
    meaning: 'A destination rejected a record with a retryable error',
    message: '{reason}',
    hint: 'the records wait in the local stream and are retried with backoff',
  },
  GH_EXPORT_PERMANENT: {
    group: 'upstream',
    meaning: 'A destination rejected a record permanently',
    message: '{reason}',
    hint: 'the record goes to the dead-letter stream; fix its size or content',
  },
  GH_UPSTREAM_PROXY: {
    group: 'upstream',
    meaning:
      "The site's HTTP proxy between the gateway and an endpoint or broker (a destination's, an MQTT source's, the control channel's) refused the call or the tunnel (407: credentials, 403: a port or host its rules forbid), is down, or closed the connection: the records wait in the local stream (never dead-lettered for it) and go out once the proxy lets them; messages for the gateway wait in its session on the broker",
    message: '{reason}',
    hint: "check network.proxy (or HTTPS_PROXY / the connection's own proxy option) and the proxy's own log; docs/upstream.md#through-a-proxy",
  },
  GH_UPSTREAM_CERT_EXPIRED: {
    group: 'upstream',
    meaning:
      "An upstream connection (a destination's, an MQTT source's, the control channel's) failed while the client certificate it presents, or the CA bundle it verifies the server with, is past its notAfter by the gateway's clock: the server refuses an expired client certificate in the TLS handshake (often with a bare alert or reset). The certificate is never refused locally (a wrong clock until NTP); the records wait in the local stream and go out once the renewed certificate is presented",
    message: '{reason}',
    hint: 'renew the certificate, write the new file and run `systemctl reload gatehouse` (SIGHUP): the next reconnect presents it; if the certificate is not really expired, check the clock (timedatectl); docs/security.md#certificate-expiry',
  },
  GH_DESTINATION_CONFIG: {
    group: 'upstream',
    meaning: 'A destination is misconfigured',
    message: '{source} is invalid ({count}):\n{problems}',
    hint: 'see docs/destinations.md for the options of each destination type',
  },
  GH_EXPORT_READ_INCONSISTENT: {
    group: 'upstream',
    meaning:
      'An exporter found no record where the store counts some (or the store calls records dropped that it still holds): it holds its position, skips nothing, and retries after its backoff',
    message: '{reason}',
    hint: 'a store bug: report it with the log lines around it. Restarting the gateway rebuilds the store counters from disk; the exporter resumes by itself once reads agree',
  },
  GH_NOT_DEAD_LETTERS: {
    group: 'upstream',
    meaning: 'A redrive or purge named a stream that is not a dead-letter stream: removing records from a live stream would lose acknowledged data',
    message: "local stream '{stream}' is not a dead-letter stream: {reason}",
    hint: 'name a dead-letter stream (`gatehouse streams dead-letters` lists them, e.g. archive-dlq); records of a live stream leave it only once exported',
  },
  GH_REDRIVE_TARGET: {
    group: 'upstream',
    meaning: 'Dead letters cannot be sent again to the stream they came from (it no longer exists, or no exporter sends it) or to the stream named with ?to=',
    message: "cannot redrive the dead letters of '{stream}' into '{target}': {reason}",
    hint: 'name a stream an exporter sends with ?to=STREAM (`gatehouse streams redrive DLQ --to STREAM`), e.g. the stream the rule action writes now; nothing was moved',
  },
  GH_DEAD_LETTERS_BUSY: {
    group: 'upstream',
    meaning: 'A redrive or purge of a dead-letter stream was refused because another one of the same stream is running',
    message: "a {running} of '{stream}' is running",
    hint: 'wait for it to end (its answer says what it moved), then try again',
    reserved:
      'released in round 31; since round 32 one lock covers redrive, purge and drop and answers GH_STREAM_BUSY (409) instead: kept so a script that matched this code finds what it meant',
  },
  // serial
  GH_SERIAL_OPEN: {
    group: 'serial',
    meaning: 'A serial port could not be opened',
    message: 'cannot open {path}: {reason}',
    hint: 'check the device path, permissions (dialout group) and cable; the link retries by itself',
  },
  GH_FRAME_INVALID: {
    group: 'serial',
    meaning: 'A serial frame failed to decode (CRC, length, delimiter)',
    message: 'frame {reason}: {detail}',
    hint: 'check the baud rate and the framing of the link; broken frames are counted and skipped',
  },
  GH_CODEC_INVALID: {
    group: 'serial',
    meaning: 'A frame decoded but its payload did not match the codec',
    message: '{codec} codec: {reason}',
    hint: 'check that the link codec matches what the firmware sends',
  },
  GH_SERIAL_NOT_OPEN: {
    group: 'serial',
    meaning: 'A write was attempted on a serial link that is not open (closed or retrying)',
    message: 'serial link {state}',
    hint: 'the link retries by itself; check the cable or device path',
  },
  GH_SERIAL_QUEUE_FULL: {
    group: 'serial',
    meaning: 'A serial link write queue is full (the device reads slower than commands arrive)',
    message: '{pending} {what} pending',
    hint: 'send commands slower or raise writeQueue',
  },
  GH_SERIAL_LINK_UNKNOWN: {
    group: 'serial',
    meaning: 'A serial link name is not configured',
    message: "serial link '{link}' is not configured",
    hint: 'add the link under serial: in the config or fix the name',
  },
  // industrial sources (Modbus, OPC UA)
  GH_SOURCE_UNAVAILABLE: {
    group: 'industrial sources',
    meaning: "A source kind's optional library is not installed (e.g. node-opcua-client for OPC UA)",
    message: "source '{source}' needs the optional package {package}, which is not installed",
    hint: 'run `npm install {package}` in the gateway folder, or set enabled: false on the source',
  },
  GH_SOURCE_CONNECT: {
    group: 'industrial sources',
    meaning:
      'An industrial source could not reach its device or server (unreachable, refused, timed out, security mismatch, its login or a certificate refused)',
    message: 'cannot reach {endpoint}: {reason}',
    hint: 'check the endpoint, the network, the security settings and the login',
  },
  GH_WRITE_VALUE_INVALID: {
    group: 'industrial sources',
    meaning: "A downlink write's value cannot be held exactly by the tag (not a whole register value, out of range, wrong kind): refused, never rounded",
    message: 'cannot write {value} to {point}: {reason}',
    hint: "write a value the tag's type, scale and offset hold exactly (see docs/industrial.md, Writes)",
  },
  GH_WRITE_COMMAND_INVALID: {
    group: 'industrial sources',
    meaning: 'A downlink command that is not what the source takes on its command topic (not JSON, a field missing or of the wrong kind): refused',
    message: 'command refused: {reason}',
    hint: "send the JSON the source's command topic takes (see docs/sparkplug.md, Writes)",
  },
  GH_WRITE_TARGET_UNKNOWN: {
    group: 'industrial sources',
    meaning: 'A downlink command names an edge node, device or metric the source does not know, or one that is offline: refused, not sent (no stale writes)',
    message: 'cannot write to {target}: {reason}',
    hint: 'name one the source has online (the message lists them)',
  },
  GH_WRITE_NOT_SENT: {
    group: 'industrial sources',
    meaning: 'A downlink command the source cannot send now (not connected, too many waiting, stopping): refused, never sent later',
    message: 'command not sent: {reason}',
    hint: 'send it again once the source is connected (gatehouse sources)',
  },
  // file sources
  GH_FILE_UNREADABLE: {
    group: 'file sources',
    meaning: 'A file matching a file source pattern could not be opened or read (permissions, not a regular file)',
    message: 'cannot read {path}: {reason}',
    hint: 'check its permissions and type (only regular files are tailed); the source retries at each scan',
  },
  GH_FILE_VANISHED: {
    group: 'file sources',
    meaning: 'A tailed file, or the rotated copy of its unread content, disappeared while unread data remained',
    message: '{path} disappeared with {bytes} unread bytes',
    hint: 'rotate with delaycompress (a compressed copy cannot be read) and not twice within scanIntervalMs, prefer create to copytruncate, or raise maxOpenFiles if the file waited for a slot',
  },
  GH_FILE_GLOB_LIMIT: {
    group: 'file sources',
    meaning: 'A file source pattern matches more files than a scan lists (100,000): the others are not tailed',
    message: '{pattern} matches more than {limit} files; only the first {limit} found are tailed',
    hint: 'narrow the pattern, split it over several sources, or move old files out of its folders; warned once until it is under the limit again',
  },
  GH_FILE_HEADER_CHANGED: {
    group: 'file sources',
    meaning: "A CSV file's header line differs from the first header the source read (a column added, removed or moved): CSVTOJSON maps its rows by position",
    message: '{path}: header line {header} differs from {expected}; its rows are mapped to customFieldNames by position',
    hint: 'update customFieldNames (and the rules using them) to the new columns, or tail files of each layout with their own source; warned once per file',
  },
  // http sources
  GH_HTTP_SOURCE_LISTEN: {
    group: 'http sources',
    meaning: 'An http source could not bind its address (the port taken, a privileged port, an address the host does not have)',
    message: "http source '{source}' cannot listen on {host}:{port}: {reason}",
    hint: 'choose another port for the source, or stop the process holding it',
  },
  GH_HTTP_SOURCE_TLS: {
    group: 'http sources',
    meaning: "An http source's TLS certificate or key files could not be loaded (at start, or at a SIGHUP reload: the running certificate is then kept)",
    message: 'cannot load TLS files of {listener}: {reason}',
    hint: "check the source's tls.cert and tls.key (PEM files of one key pair) and their permissions",
  },
  GH_HTTP_SOURCE_REQUEST: {
    group: 'http sources',
    meaning:
      'A request to an http source was refused as malformed, before anything was submitted: an unknown path (404), another method than POST (405), a topic that is not a valid MQTT topic name, an unknown query parameter, an NDJSON body with a line that is not JSON or a compressed body that does not decode (400), a Content-Encoding other than gzip or deflate (415), plain HTTP on its HTTPS port',
    message: '{reason}',
    hint: 'POST the payload to /topics/<topic> (docs/http-source.md); nothing of the request was taken: fix it and send it again',
  },
  GH_HTTP_SOURCE_UNAUTHORIZED: {
    group: 'http sources',
    meaning:
      "A request to an http source was refused for its credentials: none or wrong (401), a topic its credential's topics do not allow (403), or its address banned after repeated failures (429); not counted as data",
    message: '{reason}',
    hint: "send 'Authorization: Bearer <token>' or Basic credentials the source's auth lists, on a topic they allow (docs/http-source.md#auth)",
  },
  GH_HTTP_SOURCE_TOO_LARGE: {
    group: 'http sources',
    meaning:
      'A request to an http source was over maxBodyBytes (as sent, or once decoded: a gzip or deflate body is decoded under the same bound), or an NDJSON body over maxBatchMessages lines: answered 413, its body not read further, nothing submitted',
    message: '{reason}',
    hint: "raise the source's maxBodyBytes / maxBatchMessages to the largest request a sender makes (Fluent Bit posts a whole chunk, up to 2 MB and thousands of records, and drops a chunk answered 413: docs/http-source.md), or send smaller requests (Telegraf: metric_batch_size)",
  },
  GH_HTTP_SOURCE_BUSY: {
    group: 'http sources',
    meaning:
      'An http source refused a request for now (503 with Retry-After): maxInFlight requests were waiting for their commits (a slow or full disk), or the gateway is stopping; nothing of it was submitted',
    message: '{reason}',
    hint: 'send it again after Retry-After seconds (HTTP clients with retries do); if it lasts, see the store (gatehouse status, /healthz) or raise maxInFlight',
  },
  // syslog sources
  GH_SYSLOG_SOURCE_LISTEN: {
    group: 'syslog sources',
    meaning:
      'A syslog source could not bind one of its addresses (udp, tcp or tls: the port taken, a privileged port such as 514, an address the host does not have)',
    message: "syslog source '{source}' cannot listen on {transport} {host}:{port}: {reason}",
    hint: 'choose another port (5514, 6514), stop the process holding it (a local rsyslogd with imudp/imtcp), or grant CAP_NET_BIND_SERVICE for 514',
  },
  GH_SYSLOG_SOURCE_TLS: {
    group: 'syslog sources',
    meaning:
      "A syslog source's TLS certificate, key or CA files (its tls listener's, or its relp listener's relp.tls) could not be loaded (at start, or at a SIGHUP reload: the running certificate is then kept)",
    message: 'cannot load TLS files of {listener}: {reason}',
    hint: "check the source's tls.cert and tls.key (or relp.tls.cert, relp.tls.key: PEM files of one key pair), relp.tls.ca (PEM certificates) and their permissions",
  },
  // snmp sources
  GH_SNMP_SOURCE_LISTEN: {
    group: 'snmp sources',
    meaning: "An snmp source could not bind its trap listener's UDP address (the port taken, a privileged port such as 162, an address the host does not have)",
    message: "snmp source '{source}' cannot listen for traps on udp {host}:{port}: {reason}",
    hint: 'choose another port (1162), stop the process holding it (snmptrapd), or grant CAP_NET_BIND_SERVICE for 162 (docs/snmp-source.md)',
  },
  GH_SNMP_NO_ANSWER: {
    group: 'snmp sources',
    meaning:
      'An SNMP target did not answer a poll within timeoutMs x (retries+1): the agent is down or unreachable, or (v1, v2c) the community is wrong: an agent drops a request with an unknown community without a word, so the two look the same',
    message: "snmp target '{target}' ({host}:{port}, v{version}) did not answer: {reason}",
    hint: "check that the agent runs and the port is open (snmpget -v2c -c COMMUNITY HOST:PORT 1.3.6.1.2.1.1.3.0: numeric, since Debian's snmp tools come without the MIB files that name sysUpTime.0), and the target's community: a wrong one also times out",
  },
  GH_SNMP_AUTH: {
    group: 'snmp sources',
    meaning:
      "An SNMPv3 target refused the gateway's user with a report (unknown user, wrong digest: a wrong passphrase, unsupported security level, decryption error)",
    message: "snmp target '{target}' ({host}:{port}) refused user '{user}': {reason}",
    hint: "check the target's user (name, level, authProtocol, privProtocol) and its passphrase files against the agent's user (createUser in snmpd.conf)",
  },
  GH_SNMP_REQUEST_FAILED: {
    group: 'snmp sources',
    meaning: "An SNMP target answered a poll's request with an error (an error status such as v1's noSuchName or genErr, or an answer net-snmp could not take)",
    message: "snmp target '{target}' ({host}:{port}) refused a request: {reason}",
    hint: "check the poll's OIDs and the agent's view of them (rocommunity/rouser and view in snmpd.conf)",
  },
  GH_SNMP_MIB: {
    group: 'snmp sources',
    meaning: "An snmp source's MIB files (its `mibs`) could not be read or parsed, or do not define a name its polls use (or define it in two modules)",
    message: "snmp source '{source}': {reason}",
    hint: 'list the MIB file that defines the name (and the files it imports) in mibs, write the name as MODULE::name when two modules define it, or write the numeric OID (snmptranslate -On MODULE::name gives it)',
  },
} as const satisfies Record<string, ErrorSpec>;
