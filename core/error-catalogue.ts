// The error catalogue: every code of the runtime's one error type (GatehouseError, errors.ts) with
// its meaning (one line, for docs/errors.md), its message template and its default hint, the way
// fastify's error constructors own theirs. docs/errors.md is generated from this table (`gatehouse
// errors --markdown`) and a unit test checks that every code is thrown somewhere (or marked
// reserved with a reason) and that no other GH_ code exists in the source.
// A code never changes meaning once released; add new ones at the END of their group.
export interface ErrorSpec {
  /** Section of docs/errors.md. */
  readonly group: string;
  /** What the code means, in one line. */
  readonly meaning: string;
  /** Message template: `{name}` is replaced by params.name. */
  readonly message: string;
  /** Default "how to fix" (a throw site may give a more precise one). */
  readonly hint: string;
  /** Set when no code path reports this code today: why it stays in the catalogue. */
  readonly reserved?: string;
}

export const ERROR_CATALOGUE = {
  // configuration
  GH_CONFIG_INVALID: {
    group: 'configuration',
    meaning: 'The configuration file failed validation',
    message: '{source} is invalid ({count}):\n{problems}',
    hint: 'see docs/configuration.md for every key, its type and default',
  },
  GH_CONFIG_READ: {
    group: 'configuration',
    meaning: 'A configuration or rule set file could not be read or parsed',
    message: 'cannot read the {what} {file}: {reason}',
    hint: 'check the path, the file permissions and the YAML/JSON syntax',
  },
  GH_CONFIG_INSECURE: {
    group: 'configuration',
    meaning: 'The configuration would expose the gateway beyond loopback without authentication',
    message: '{what} is reachable beyond loopback {unprotected}',
    hint: 'configure users/tokens, or bind to 127.0.0.1',
  },
  GH_ARG_INVALID: {
    group: 'configuration',
    meaning: 'A command-line argument is missing or malformed',
    message: '{reason}',
    hint: 'run the command with --help for its usage',
  },
  GH_PACKAGE_MISSING: {
    group: 'configuration',
    meaning: 'A package Gatehouse loads on first use (only when the configuration needs it) is not installed',
    message: '{feature} needs the package {package}, which is not installed',
    hint: 'reinstall the dependencies in the gateway folder (`npm ci`, or `npm install {package}`)',
  },
  GH_INPUT_FILE: {
    group: 'configuration',
    meaning: "An input file given to a command (gatehouse detect's CSV) is missing, unreadable, empty or not in the expected format",
    message: 'cannot use input {file}: {reason}',
    hint: 'check the path (relative to the working directory) and the file: see the command --help for the format it reads',
  },
  // broker
  GH_BROKER_LISTEN: {
    group: 'broker',
    meaning: 'A broker listener could not bind its address',
    message: 'cannot listen on {host}:{port}: {reason}',
    hint: 'free the port or change broker.listeners',
  },
  GH_BROKER_TLS: {
    group: 'broker',
    meaning: 'TLS certificate or key files could not be loaded',
    message: 'cannot load TLS files of {listener}: {reason}',
    hint: "check the listener's tls.cert and tls.key (PEM files of one key pair), tls.ca, and their permissions",
  },
  GH_AUTH_FAILED: {
    group: 'broker',
    meaning: 'A client presented a wrong user name or password',
    message: 'authentication refused: {reason}',
    hint: 'check the client credentials against broker.users (gatehouse passwd makes hashes)',
  },
  GH_ACL_DENIED: {
    group: 'broker',
    meaning: 'A client tried to publish or subscribe outside its ACL',
    message: 'publish to {topic} denied: {reason}',
    hint: 'grant the topic in broker.acl, or publish elsewhere',
  },
  GH_PAYLOAD_TOO_LARGE: {
    group: 'broker',
    meaning: 'A publish exceeded the configured maximum payload size',
    message: 'payload of {bytes} bytes exceeds maxPayloadBytes {maxPayloadBytes}',
    hint: 'send smaller messages or raise broker.maxPayloadBytes',
  },
  GH_TOO_MANY_CLIENTS: {
    group: 'broker',
    meaning: 'The broker reached its configured connection limit',
    message: 'server connection limit reached ({maxConnections} clients)',
    hint: 'raise broker.maxConnections or close idle clients',
  },
  GH_LISTENER_FULL: {
    group: 'broker',
    meaning: 'A listener reached its own connection limit (broker.listeners[].maxConnections)',
    message: "listener '{listener}' connection limit reached ({maxConnections} clients)",
    hint: 'raise maxConnections of that listener (broker.listeners), close idle clients, or connect through another listener',
  },
  GH_CLIENT_ID_REJECTED: {
    group: 'broker',
    meaning: 'A client connected with a client id the broker must refuse (CONNACK identifier rejected)',
    message: 'client id refused: {reason}',
    hint: 'give the client a non-empty client id, or connect with clean session',
  },
  GH_CLIENT_ID_TOO_LONG: {
    group: 'broker',
    meaning: 'A client connected with a client id longer than broker.maxClientIdLength (CONNACK identifier rejected)',
    message: 'client id of {bytes} bytes exceeds maxClientIdLength {maxClientIdLength}',
    hint: 'give the client a shorter id (AWS IoT allows 128 bytes), or raise broker.maxClientIdLength',
  },
  GH_TOPIC_TOO_LONG: {
    group: 'broker',
    meaning: 'A publish topic or a subscription filter was longer than broker.maxTopicLength',
    message: 'topic of {bytes} bytes exceeds maxTopicLength {maxTopicLength}',
    hint: 'use shorter topics (AWS IoT allows 256 bytes), or raise broker.maxTopicLength',
  },
  GH_BROKER_STATE_FILE: {
    group: 'broker',
    meaning:
      'A broker state file (mqtt-retained.json, mqtt5-sessions.json, or its .journal) could not be read or written, is corrupt, or ends in a torn line: the broker runs without the unreadable part',
    message: '{file}: {reason}',
    hint: 'a torn last journal line after a kill -9 or power cut costs only that change; a corrupt snapshot is kept as <file>.corrupt; a write error retries every 5 s (free disk space)',
  },
  // store
  GH_STORE_OPEN: {
    group: 'store',
    meaning: 'The local stream store could not be opened',
    message: 'cannot open the local stream store at {dir}: {reason}',
    hint: 'check the data directory and that no other gateway uses it',
  },
  GH_STORE_CLOSED: {
    group: 'store',
    meaning: 'The store was used after close()',
    message: 'the local stream store is {state}',
    hint: 'the gateway is stopping; retry after restart',
  },
  GH_STREAM_UNKNOWN: {
    group: 'store',
    meaning: 'A local stream name is not configured',
    message: "local stream '{stream}' is not defined",
    hint: 'define it under streams in the config, or fix the name',
  },
  GH_STREAM_FULL: {
    group: 'store',
    meaning: 'A local stream reached maxBytes under onFull: reject',
    message: "local stream '{stream}' is full ({held} of {maxBytes} bytes held, {pending} pending): {reason}",
    hint: 'raise the stream maxBytes, export faster, or use onFull: drop-oldest',
  },
  GH_STREAM_IN_USE: {
    group: 'store',
    meaning: 'A local stream was not dropped (undefined with its keys): it holds records, has appends pending, consumers or readers',
    message: "local stream '{stream}' cannot be dropped: {reason}",
    hint: 'it stays as it is; a retiring exporter tries again once its stream is drained',
  },
  GH_RECORD_TOO_LARGE: {
    group: 'store',
    meaning: 'A single record is larger than its stream can ever hold',
    message: '{what} exceeds {limit}',
    hint: 'send smaller records or raise the stream maxBytes',
  },
  GH_STORE_CORRUPT: {
    group: 'store',
    meaning: 'Data read from the store did not decode',
    message: 'corrupt data in {what}: {reason}',
    hint: 'restore the data directory from a backup, or remove the damaged stream',
  },
  GH_STORE_REPAIRED: {
    group: 'store',
    meaning:
      "The store's LevelDB database was found damaged at start (LevelDB's 'Corruption', a missing CURRENT, MANIFEST or table file: an SD card's bad block, a power cut) and was repaired with LevelDB's RepairDB: the gateway runs on what could be read; the files RepairDB set aside are in <store>/lost/. Logged at error level, shown by /healthz and `gatehouse status` until the gateway stops",
    message: 'the local stream store at {dir} was damaged ({reason}) and has been repaired: {outcome}',
    hint: 'the records recovered are sent upstream as usual (some may be sent twice); records in an unreadable part are lost: compare what upstream received with the devices if that matters. Delete <store>/lost/ once looked at. A store damaged again soon means a failing SD card: replace it',
  },
  GH_STORE_DAMAGED: {
    group: 'store',
    meaning:
      "The store's LevelDB database is damaged and LevelDB's repair failed or did not make it open: `gatehouse start` exits 65, which the systemd unit does not restart (starting again would fail the same way)",
    message: 'the local stream store at {dir} is damaged and could not be repaired: {reason}',
    hint: 'move the store folder aside (the error names the command) and start again: a new, empty store is made; the folder moved aside keeps what it held',
  },
  GH_STORE_IN_RAM: {
    group: 'store',
    meaning:
      "The data directory is on tmpfs or ramfs, or on an overlay written to one (Raspberry Pi OS's overlay file system): the store and what it acknowledges live in memory and are lost at the next reboot or power cut. A warning at start and in check-config; the gateway runs",
    message: 'the data directory {dir} is on {on} (RAM)',
    hint: "put the data directory on a disk partition (a writable partition mounted there, or the overlay turned off); under the systemd unit, another folder with 'sudo systemctl edit gatehouse' (ExecStart= with --data-dir, ReadWritePaths= for it)",
  },
  GH_STORE_DISK_FULL: {
    group: 'store',
    meaning:
      'The store refused a data append: the disk is full (free space under store.reserveBytes) or a write failed; or it cannot open its database because the disk is full (gatehouse start waits for space)',
    message: 'the store cannot {what}: {reason}',
    hint: 'free space on the filesystem of the data directory (the gateway resumes by itself), or lower store.reserveBytes',
  },
  GH_STREAM_USED: {
    group: 'store',
    meaning: 'An operator asked to drop a local stream that something still uses: the config, an exporter, a rule, or the gateway itself',
    message: "local stream '{stream}' is used: {reason}",
    hint: 'stop what uses it first (the hint of the error says how), then drop it; nothing was removed',
  },
  GH_STREAM_DROP_COUNT: {
    group: 'store',
    meaning:
      'An operator asked to drop a local stream holding records without confirming how many (?records=N), or with another number than it holds: those records would never reach upstream',
    message: "local stream '{stream}' holds {held} records{given}",
    hint: 'read what it holds (GET /api/streams, `gatehouse streams`), then confirm that number: ?records=N (`gatehouse streams drop NAME --records N`); nothing was removed',
  },
  GH_STREAM_BUSY: {
    group: 'store',
    meaning:
      'An operator asked for a redrive, purge or drop of a local stream while another of them runs on the same stream: they run one at a time, so none moves or removes what another is working on',
    message: "cannot {operation} local stream '{stream}': a {running} of it is running (started {since}{progress})",
    hint: 'wait for it to end (GET /api/dead-letters shows a running redrive and how far it got), then try again; nothing was done',
  },
  // rules
  GH_SQL_SYNTAX: {
    group: 'rules',
    meaning: 'A rule SQL statement could not be parsed',
    message: '{reason}',
    hint: 'see docs/rules-sql.md for the AWS IoT SQL grammar',
  },
  GH_SQL_SEMANTIC: {
    group: 'rules',
    meaning: 'A rule SQL statement parsed but is not valid (unknown function, wrong arity, ...)',
    message: '{reason}',
    hint: 'see docs/rules-sql.md for the functions and their arguments',
  },
  GH_RULE_EVAL: {
    group: 'rules',
    meaning: 'A rule could not be evaluated for one message (the message goes to its error action, if any)',
    message: 'rule {rule} could not be evaluated: {reason}',
    hint: "give the rule an errorAction to keep such messages (they are acknowledged); check the payload (e.g. nested deeper than JSON tools handle) and the rule's SQL",
  },
  GH_RULE_NOT_FOUND: {
    group: 'rules',
    meaning:
      'A Basic Ingest message ($aws/rules/<rule>/<topic>) names no rule that can run it; it is acknowledged and not processed (as AWS IoT logs RuleNotFound)',
    message: 'Basic Ingest message on {topic} not run: {reason}',
    hint: "publish to $aws/rules/<name of an enabled rule>/<topic>, or on the rule's FROM topic; counted in gatehouse_rules_basic_ingest_refused_total",
  },
  GH_RULESET_INVALID: {
    group: 'rules',
    meaning: 'A rule set failed validation',
    message: '{source} has {count}:\n{problems}',
    hint: 'fix each listed rule; nothing of this rule set was applied',
  },
  GH_RULESET_STALE: {
    group: 'rules',
    meaning: 'A rule set update has an older version than the active one',
    message: 'rule set version {version} is not newer than the active version {active}',
    hint: 'raise the version, or force the update (rules apply --force)',
  },
  GH_RULESET_NO_ROLLBACK: {
    group: 'rules',
    meaning: 'A rollback was asked for but there is no previous rule set to return to',
    message: 'no previous rule set to roll back to: {reason}',
    hint: 'a rollback returns to the last confirmed set (lastGoodVersion), and there is none but the running one; to run another set, apply it as a new version (gatehouse rules apply FILE, or a signed update)',
  },
  GH_RULESET_SIGNATURE: {
    group: 'rules',
    meaning:
      'A rule set update or rollback was refused by the signature policy (unsigned where a signature is required, or a signature that does not verify), or a signing key or envelope is unusable',
    message: '{what} refused: {reason}',
    hint: 'sign it with `gatehouse rules sign ... --targets ID --key KEY`, using a key whose public half is in control.publicKeys',
  },
  GH_ACTION_FAILED: {
    group: 'rules',
    meaning: 'A rule action failed',
    message: "action '{action}' of rule '{rule}' failed: {reason}",
    hint: 'see the rule errorAction output and the action options',
  },
  GH_TEMPLATE_INVALID: {
    group: 'rules',
    meaning: 'A ${...} substitution template is malformed',
    message: "template '{template}' is malformed: {reason}",
    hint: 'close every ${ with } and use a valid SQL expression inside',
  },
  GH_DETECTOR_PARAM: {
    group: 'rules',
    meaning: 'An anomaly detector name or parameter is unknown or out of range',
    message: '{reason}',
    hint: 'see docs/anomaly.md for the detectors and their parameters',
  },
  GH_RULESET_RUNTIME_FAILURE: {
    group: 'rules',
    meaning: 'A rule set update failed at run time during its probation and was rolled back automatically',
    message: "rule '{rule}' of rule set {version} failed {failures} times in {evaluations} evaluations during its probation (last error: {reason})",
    hint: 'fix the rule for the payloads it meets (see the last error) and send it again as a new version; control.probation sets the criterion',
  },
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
  // admin / control
  GH_ADMIN_UNREACHABLE: {
    group: 'admin',
    meaning: "A CLI command could not reach the running gateway's admin API",
    message: "cannot reach the gateway's admin API at {url}: {reason}",
    hint: 'start the gateway (gatehouse start), or point at it with --admin http://HOST:PORT or --config FILE',
  },
  GH_PEER_UNREACHABLE: {
    group: 'admin',
    meaning: 'A CLI tool (simulate) could not connect to the broker or device it was pointed at',
    message: 'cannot connect to {url}: {reason}',
    hint: 'check that the broker is running and listening there, the URL and the credentials',
  },
  GH_ADMIN_BAD_REQUEST: {
    group: 'admin / control',
    meaning: 'An admin API request was malformed',
    message: '{reason}',
    hint: "see the README's Admin HTTP API table for the routes, their methods and query parameters",
  },
  GH_ADMIN_UNAUTHORIZED: {
    group: 'admin / control',
    meaning: 'An admin API request lacked a valid token',
    message: 'missing or wrong admin token',
    hint: 'send `Authorization: Bearer <admin.token>`; from the CLI pass --token T, set GATEHOUSE_ADMIN_TOKEN, or --config FILE (reads admin.token)',
  },
  GH_ADMIN_NOT_FOUND: {
    group: 'admin / control',
    meaning: 'An admin API resource does not exist',
    message: '{what} not found',
    hint: 'check the name in the URL',
  },
  GH_ADMIN_TOO_LARGE: {
    group: 'admin / control',
    meaning: 'An admin API request body was too large',
    message: 'request body of {bytes} bytes exceeds the limit of {limit} bytes',
    hint: 'send a smaller body (the limit is admin.maxBodyBytes)',
  },
  GH_ADMIN_LISTEN: {
    group: 'admin / control',
    meaning: 'The admin API could not bind its address',
    message: 'admin API cannot listen on {host}:{port}: {reason}',
    hint: 'free the port or change admin.port',
  },
  GH_ADMIN_TLS: {
    group: 'admin / control',
    meaning: 'The admin API TLS certificate or key files could not be loaded',
    message: 'cannot load TLS files of {listener}: {reason}',
    hint: 'check admin.tls.cert and admin.tls.key (PEM files of one key pair) and their permissions',
  },
  GH_CONTROL_CHANNEL: {
    group: 'admin / control',
    meaning: 'The MQTT control channel is not connected or a control message was refused',
    message: '{reason}',
    hint: 'check the control channel configuration and connection',
  },
  GH_JOB_FAILED: {
    group: 'admin / control',
    meaning: 'A scheduled job failed (it runs again at its next time)',
    message: '{reason}',
    hint: 'see the job log; it runs again at its next time',
  },
  GH_CONTROL_DOCUMENT: {
    group: 'admin / control',
    meaning: 'A remote update document is malformed, not for this gateway, or expired',
    message: 'update document refused: {reason}',
    hint: 'sign a new document for this gateway (targets) with a later expiresAt: gatehouse rules sign --targets ID',
  },
  GH_CONTROL_REPLAY: {
    group: 'admin / control',
    meaning: 'A remote update document is not newer than the highest version accepted (replay or downgrade)',
    message: 'update document version {version} is not above the highest accepted version {accepted} (a replayed or older update)',
    hint: 'sign the update (or rollback) with a document version above the accepted one: gatehouse rules sign --version N',
  },
  GH_ADMIN_FORBIDDEN: {
    group: 'admin / control',
    meaning: 'An admin API request was refused: unknown Host header (DNS rebinding) or a cross-origin state change (CSRF)',
    message: '{reason}',
    hint: 'use http://127.0.0.1:<port>/ (or add the name to admin.allowedHosts); change state from the status page itself or a non-browser client',
  },
  GH_ADMIN_PLAIN_HTTP: {
    group: 'admin / control',
    meaning: 'A plain HTTP request (or other bytes that are not a TLS handshake) reached the admin API, which serves HTTPS only (admin.tls)',
    message: "plain HTTP request sent to the admin API's HTTPS port: it serves HTTPS only (admin.tls) at {url}",
    hint: 'use https://<host>:<port>/ instead of http://; the CLI trusts the admin certificate with --config FILE (it reads admin.tls.cert), or GATEHOUSE_ADMIN_CA=<PEM file of the CA that issued it>',
  },
  GH_INTERNAL: {
    group: 'admin / control',
    meaning: 'An unexpected internal error (a bug: please report it)',
    message: '{reason}',
    hint: 'please report it with the log lines around it',
  },
} as const satisfies Record<string, ErrorSpec>;
