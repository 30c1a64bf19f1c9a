// Error codes of the admin API, remote control and jobs: a section of the error catalogue (error-catalogue.ts, where the
// rules of the catalogue are). A code never changes meaning once released; add new ones at the END
// of their group.
import type { ErrorSpec } from './error-spec.js';

export const CONTROL_ERRORS = {
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
