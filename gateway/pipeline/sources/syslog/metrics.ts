// Counters of syslog sources (gatehouse_syslog_source_*, as the http source's gatehouse_http_source_*),
// and the same counts per source for its status (GET /api/sources, `gatehouse sources`).
import type { Counter, Registry } from 'prom-client';
import { counter } from '../../../../core/metrics.js';
import type { SyslogFormat } from './parse.js';

export type Transport = 'udp' | 'tcp' | 'tls' | 'relp';

/**
 * Why a message read was not committed: busy (a datagram while maxInFlight messages wait for their
 * commits, or the store refuses), denied (a datagram from a sender not in `allow`), refused (its
 * commit refused: a datagram, or any message for a reason other than a full or closed store),
 * stopped (a stream's message still being retried when the gateway stopped), receive-buffer (a
 * datagram the kernel dropped, the socket's receive buffer full: never read, counted from the
 * kernel's own count, udp-drops.ts).
 */
export type DropReason = 'busy' | 'denied' | 'refused' | 'stopped' | 'receive-buffer';

/**
 * What became of a TCP, TLS or RELP connection: accepted, denied (allow), dropped (maxConnections),
 * idle-timeout, message-timeout, tls-failed (its handshake failed: a plain sender on the tls port or
 * a relp port with tls, a client refusing the certificate or offering none), tls-on-tcp (a TLS handshake on the tcp or relp port:
 * closed, not kept as messages of binary), protocol-error (a RELP session broke the protocol),
 * closed-before-data (a TLS sender closed after its handshake, before any byte: it likely refused the certificate).
 */
export type ConnectionOutcome =
  | 'accepted'
  | 'denied'
  | 'dropped'
  | 'idle-timeout'
  | 'message-timeout'
  | 'tls-failed'
  | 'tls-on-tcp'
  | 'protocol-error'
  | 'closed-before-data';

export interface SyslogMetrics {
  messages: Counter<'source' | 'transport' | 'format'>;
  bytes: Counter<'source'>;
  dropped: Counter<'source' | 'reason'>;
  truncated: Counter<'source'>;
  invalidUtf8: Counter<'source'>;
  connections: Counter<'source' | 'transport' | 'outcome'>;
  retries: Counter<'source'>;
  /** Run when the metrics are read: the sources' reads of the kernel's UDP drop counts (add and delete yours). */
  readonly beforeScrape: Set<() => void>;
}

const DROPPED = 'gatehouse_syslog_source_dropped_total';
/** Per registry, the one set of scrape-time reads its dropped counter runs (the counter is declared once, with its collect). */
const scrapeReads = new WeakMap<Registry, Set<() => void>>();

function droppedCounter(registry: Registry): Counter<'source' | 'reason'> {
  const found = registry.getSingleMetric(DROPPED);
  if (found) return found as Counter<'source' | 'reason'>;
  const reads = scrapeReads.get(registry) ?? new Set<() => void>();
  scrapeReads.set(registry, reads);
  return counter(
    registry,
    DROPPED,
    'Messages syslog sources read and did not commit, by reason: busy (a datagram while the intake was full), denied (a datagram from a sender not allowed), refused (its commit refused), stopped (being retried at a stop), receive-buffer (datagrams the kernel dropped, the UDP receive buffer full)',
    ['source', 'reason'],
    {
      collect() {
        for (const read of reads) read();
      },
    },
  );
}

export function syslogMetrics(registry: Registry): SyslogMetrics {
  return {
    messages: counter(
      registry,
      'gatehouse_syslog_source_messages_total',
      'Messages of syslog sources committed, by transport and format (rfc5424, rfc3164, unknown: kept whole, its parse failed)',
      ['source', 'transport', 'format'],
    ),
    bytes: counter(registry, 'gatehouse_syslog_source_bytes_total', 'Bytes of the messages syslog sources read (as framed, before a cut)', ['source']),
    dropped: droppedCounter(registry),
    truncated: counter(registry, 'gatehouse_syslog_source_truncated_total', 'Messages over maxMessageBytes (cut, kept) or cut short by their connection', [
      'source',
    ]),
    invalidUtf8: counter(registry, 'gatehouse_syslog_source_invalid_utf8_total', 'Messages that were not valid UTF-8 (kept, the bad bytes as U+FFFD)', [
      'source',
    ]),
    connections: counter(
      registry,
      'gatehouse_syslog_source_connections_total',
      'TCP, TLS and RELP connections to syslog sources by outcome: accepted, denied (allow), dropped (maxConnections), idle-timeout, message-timeout, tls-failed (handshake failed), tls-on-tcp (a TLS client on the tcp or relp port: closed), protocol-error (RELP), closed-before-data (a TLS sender closed after its handshake, before any byte: it likely refused the certificate)',
      ['source', 'transport', 'outcome'],
    ),
    retries: counter(
      registry,
      'gatehouse_syslog_source_commit_retries_total',
      'Commits of stream (TCP, TLS) messages the store refused for now (full, closed) and tried again, reading paused meanwhile',
      ['source'],
    ),
    beforeScrape: scrapeReads.get(registry)!,
  };
}

/** The counts a source's status shows. */
export class SyslogCounts {
  committed = 0;
  bytes = 0;
  truncated = 0;
  invalidUtf8 = 0;
  retries = 0;
  readonly formats: Record<SyslogFormat, number> = { rfc5424: 0, rfc3164: 0, unknown: 0 };
  readonly dropped: Partial<Record<DropReason, number>> = {};
  readonly connections: Partial<Record<ConnectionOutcome, number>> = {};

  constructor(
    private readonly metrics: SyslogMetrics,
    private readonly source: string,
  ) {}

  read(format: SyslogFormat, bytes: number, truncated: boolean, invalidUtf8: boolean): void {
    this.formats[format]++;
    this.bytes += bytes;
    this.metrics.bytes.inc({ source: this.source }, bytes);
    if (truncated) {
      this.truncated++;
      this.metrics.truncated.inc({ source: this.source });
    }
    if (invalidUtf8) {
      this.invalidUtf8++;
      this.metrics.invalidUtf8.inc({ source: this.source });
    }
  }

  commit(transport: Transport, format: SyslogFormat): void {
    this.committed++;
    this.metrics.messages.inc({ source: this.source, transport, format });
  }

  drop(reason: DropReason, n = 1): void {
    if (n <= 0) return;
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
    this.metrics.dropped.inc({ source: this.source, reason }, n);
  }

  connection(transport: Transport, outcome: ConnectionOutcome): void {
    this.connections[outcome] = (this.connections[outcome] ?? 0) + 1;
    this.metrics.connections.inc({ source: this.source, transport, outcome });
  }

  /** Run `read` whenever the metrics are read (false: no longer). */
  beforeScrape(read: () => void, on = true): void {
    if (on) this.metrics.beforeScrape.add(read);
    else this.metrics.beforeScrape.delete(read);
  }

  retry(): void {
    this.retries++;
    this.metrics.retries.inc({ source: this.source });
  }
}
