// Error codes of the configuration and the broker (what devices and operators meet first): a section of the error catalogue (error-catalogue.ts, where the
// rules of the catalogue are). A code never changes meaning once released; add new ones at the END
// of their group.
import type { ErrorSpec } from './error-spec.js';

export const EDGE_ERRORS = {
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
    meaning: 'TLS certificate, key, CA or CRL files could not be loaded',
    message: 'cannot load TLS files of {listener}: {reason}',
    hint: "check the listener's tls.cert and tls.key (PEM files of one key pair), tls.ca, tls.crl, and their permissions",
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
  GH_SHADOW_REJECTED: {
    group: 'broker',
    meaning:
      "The local Device Shadow service refused a request of the admin API or `gatehouse shadow` with AWS's code and message (400 malformed, 404 no such shadow, 409 version conflict, 413 too large, 429 a limit); over MQTT the same refusal is the answer on .../rejected",
    message: '{code} {message}',
    hint: 'see docs/shadows.md for the request document and the limits (shadows.maxShadows, maxStateBytes, maxInFlight)',
  },
} as const satisfies Record<string, ErrorSpec>;
