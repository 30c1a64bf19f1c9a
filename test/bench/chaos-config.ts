// The chaos bench's gateway config (test/bench/chaos.ts): every leg's source into one rule set
// that routes every message into the stream `archive`, exported to the chaos upstream. Returned as
// an object: the control leg (chaos-control.ts) edits it and writes it again.
const MiB = 1024 * 1024;

export interface ChaosConfigParts {
  dataDir: string;
  reserveBytes: number;
  /** The file source's log file (absent: no file source). */
  logFile?: string | undefined;
  /** Tail the log with a glob that also matches its rotated names (`app.log*`, as Kinesis Agent users write). */
  logGlob?: boolean | undefined;
  /** The cloud broker the MQTT source reads (absent: no MQTT source). */
  cloudUrl?: string | undefined;
  /** The exporter's destination (the upstream under test: ChaosSink.destination()). */
  destination: Record<string, unknown>;
  /** The gateway's end of the serial leg's pty pair (absent: no serial link). */
  serialPath?: string | undefined;
  /** The http source's port (absent: no http source). */
  httpPort?: number | undefined;
}

export function chaosConfig(o: ChaosConfigParts) {
  return {
    dataDir: o.dataDir,
    log: { level: 'info' },
    store: { reserveBytes: o.reserveBytes, diskProbeMs: 200 },
    streams: { archive: { maxBytes: 24 * MiB, onFull: 'reject' } },
    sources: [
      ...(o.logFile
        ? [
            {
              type: 'file',
              name: 'app',
              paths: [o.logGlob ? `${o.logFile}*` : o.logFile],
              initialPosition: 'start_of_file',
              scanIntervalMs: 200,
              rotateWaitMs: 300,
            },
          ]
        : []),
      ...(o.cloudUrl
        ? [
            {
              type: 'mqtt',
              name: 'cloud',
              url: o.cloudUrl,
              clientId: 'gh-chaos',
              reconnectMinMs: 100,
              reconnectMaxMs: 1000,
              topics: [{ filter: 'cloud/#', localPrefix: 'down/' }],
            },
          ]
        : []),
      // Anonymous on loopback; Retry-After 1 s: the devices wait it out (chaos-http.ts).
      ...(o.httpPort ? [{ type: 'http', name: 'devices', host: '127.0.0.1', port: o.httpPort, retryAfterSeconds: 1 }] : []),
    ],
    rules: { version: 1, rules: [{ name: 'all', sql: "SELECT * FROM '#'", actions: [{ stream: { name: 'archive' } }] }] },
    exporters: [
      {
        name: 'upstream',
        stream: 'archive',
        destination: o.destination,
        batch: { maxRecords: 500, lingerMs: 50 },
        backoff: { initialMs: 100, maxMs: 2000 },
      },
    ],
    serial: o.serialPath
      ? [
          {
            name: 'dev',
            path: o.serialPath,
            framing: { type: 'crc' },
            codec: { type: 'json' },
            topic: 'devices/${deviceId}/telemetry',
            ack: { enabled: true },
          },
        ]
      : [],
  };
}
