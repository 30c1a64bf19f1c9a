// Kinesis Agent agent.json -> Gatehouse configuration (pure function; the CLI command wraps it).
// Each flow becomes a `file` source, a local stream, a rule routing the source's topic into the
// stream, and a kinesis or firehose exporter of that stream. Whatever has no equivalent is listed
// in `unmapped` (printed by the command), never dropped silently.

type Json = Record<string, unknown>;

export interface AgentConversion {
  config: Json;
  /** Human lines: settings not carried over (and why), or carried over approximately. */
  unmapped: string[];
}

const GLOBAL_IGNORED: Record<string, string> = {
  'cloudwatch.emitMetrics': 'metrics are on /metrics (Prometheus) and the status page',
  'cloudwatch.endpoint': 'no CloudWatch metrics: scrape /metrics instead',
  checkpointFile: 'file offsets are committed in the store with the records (no separate checkpoint file)',
  assumeRoleARN: 'use the AWS SDK provider chain (AWS_ROLE_ARN / profile with role_arn) in the gateway environment',
  assumeRoleExternalId: 'use an AWS profile with external_id in the gateway environment',
  'sts.endpoint': 'set AWS_ENDPOINT_URL_STS in the gateway environment',
  userDefinedCredentialsProvider: 'no custom Java credential providers',
  'userDefinedCredentialsProvider.classname': 'no custom Java credential providers',
  'userDefinedCredentialsProvider.location': 'no custom Java credential providers',
  maxSendingThreads: 'each exporter sends one batch at a time',
  sendingThreadsKeepAliveMillis: 'not applicable',
  sendingThreadsMaxQueueSize: 'not applicable',
  shutdownTimeoutMillis: 'use shutdownTimeoutMs',
  'log.level': 'use log.level',
  'log.maxBackupIndex': 'logs go to stdout (journald)',
  'log.maxFileSize': 'logs go to stdout (journald)',
};

function regionOf(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string') return undefined;
  return /\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/.exec(endpoint)?.[1];
}

function slug(s: string, fallback: string): string {
  const v = s
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 60);
  return v || fallback;
}

function unique(name: string, used: Set<string>): string {
  let n = name;
  for (let i = 2; used.has(n); i++) n = `${name}-${i}`;
  used.add(n);
  return n;
}

export function convertAgentConfig(agent: unknown): AgentConversion {
  if (typeof agent !== 'object' || agent === null || !Array.isArray((agent as Json).flows))
    throw new Error('not a Kinesis Agent configuration: expected an object with a "flows" array');
  const a = agent as Json;
  const unmapped: string[] = [];
  for (const key of Object.keys(a)) {
    if (key === 'flows' || key === 'kinesis.endpoint' || key === 'firehose.endpoint' || key === 'awsAccessKeyId' || key === 'awsSecretAccessKey') continue;
    unmapped.push(`${key}: ${GLOBAL_IGNORED[key] ?? 'not supported'}`);
  }
  if (a.awsAccessKeyId !== undefined)
    unmapped.push(
      'awsAccessKeyId/awsSecretAccessKey: carried over into the exporters; prefer the AWS SDK provider chain (environment, profile, instance role) over keys in a config file',
    );
  const kinesisEndpoint = typeof a['kinesis.endpoint'] === 'string' ? a['kinesis.endpoint'] : undefined;
  const firehoseEndpoint = typeof a['firehose.endpoint'] === 'string' ? a['firehose.endpoint'] : undefined;
  const credentials =
    typeof a.awsAccessKeyId === 'string' && typeof a.awsSecretAccessKey === 'string'
      ? { accessKeyId: a.awsAccessKeyId, secretAccessKey: a.awsSecretAccessKey }
      : {};

  const sources: Json[] = [];
  const streams: Record<string, Json> = {};
  const rules: Json[] = [];
  const exporters: Json[] = [];
  const names = new Set<string>();
  const streamNames = new Set<string>();

  (a.flows as unknown[]).forEach((raw, i) => {
    const where = `flows[${i}]`;
    if (typeof raw !== 'object' || raw === null) {
      unmapped.push(`${where}: not an object, skipped`);
      return;
    }
    const f = raw as Json;
    if (typeof f.filePattern !== 'string') {
      unmapped.push(`${where}: no filePattern, skipped`);
      return;
    }
    const kinesis = typeof f.kinesisStream === 'string' ? f.kinesisStream : undefined;
    const firehose = typeof f.deliveryStream === 'string' ? f.deliveryStream : typeof f.firehoseStream === 'string' ? f.firehoseStream : undefined;
    if (!kinesis && !firehose) {
      unmapped.push(`${where}: neither kinesisStream nor deliveryStream, skipped`);
      return;
    }
    const target = (kinesis ?? firehose)!;
    const name = unique(slug(target, `flow-${i}`), names);
    const stream = unique(slug(target, `flow-${i}`), streamNames);
    const source: Json = { type: 'file', name, paths: [f.filePattern], topic: `file/${name}` };
    const handled = new Set(['filePattern', 'kinesisStream', 'deliveryStream', 'firehoseStream']);
    const take = (key: string, to: string, map: (v: unknown) => unknown = (v) => v): void => {
      handled.add(key);
      if (f[key] !== undefined) source[to] = map(f[key]);
    };
    take('initialPosition', 'initialPosition', (v) => String(v).toLowerCase());
    take('multiLineStartPattern', 'multiLineStartPattern');
    take('skipHeaderLines', 'skipHeaderLines');
    take('minTimeBetweenFilePollsMillis', 'scanIntervalMs', (v) => Math.max(50, Number(v)));
    if (Array.isArray(f.dataProcessingOptions)) {
      handled.add('dataProcessingOptions');
      const opts: Json[] = [];
      for (const o of f.dataProcessingOptions as Json[]) {
        const optionName = typeof o.optionName === 'string' ? o.optionName.toUpperCase() : '';
        if (['SINGLELINE', 'CSVTOJSON', 'LOGTOJSON', 'ADDBRACKETS', 'ADDMETADATA'].includes(optionName)) {
          const copy: Json = { ...o, optionName };
          if (copy.jsonFormat !== undefined) {
            unmapped.push(`${where}.dataProcessingOptions ${optionName}.jsonFormat: records are compact JSON`);
            delete copy.jsonFormat;
          }
          if (optionName === 'LOGTOJSON' && typeof copy.logFormat === 'string') copy.logFormat = copy.logFormat.toUpperCase();
          if (optionName === 'ADDMETADATA') {
            for (const k of Object.keys(copy)) if (!['optionName', 'timestamp', 'metadata'].includes(k)) delete copy[k];
            if (typeof copy.timestamp === 'string') copy.timestamp = copy.timestamp === 'true';
          }
          opts.push(copy);
        } else unmapped.push(`${where}.dataProcessingOptions ${optionName || '?'}: not supported (e.g. ADDEC2METADATA needs the EC2 metadata service)`);
      }
      if (opts.length > 0) source.dataProcessingOptions = opts;
    }
    if (typeof f.truncatedRecordTerminator === 'string') {
      handled.add('truncatedRecordTerminator');
      unmapped.push(`${where}.truncatedRecordTerminator: over-long lines are cut at maxLineBytes and marked with partialLineMarker instead`);
    }
    if (typeof f.maxBufferAgeMillis === 'number' && f.maxBufferAgeMillis > 600_000)
      unmapped.push(`${where}.maxBufferAgeMillis: capped at 600000 ms (batch.lingerMs)`);
    const batch: Json = {};
    if (typeof f.maxBufferAgeMillis === 'number') batch.lingerMs = Math.min(600_000, Math.max(0, f.maxBufferAgeMillis));
    if (typeof f.maxBufferSizeRecords === 'number') batch.maxRecords = Math.min(500, Math.max(1, f.maxBufferSizeRecords));
    if (typeof f.maxBufferSizeBytes === 'number') batch.maxBytes = Math.max(1, f.maxBufferSizeBytes);
    for (const k of ['maxBufferAgeMillis', 'maxBufferSizeRecords', 'maxBufferSizeBytes']) handled.add(k);

    const destination: Json = kinesis ? { type: 'kinesis', streamName: kinesis } : { type: 'firehose', deliveryStreamName: firehose };
    const endpoint = kinesis ? kinesisEndpoint : firehoseEndpoint;
    const region = regionOf(endpoint);
    if (region) destination.region = region;
    else if (endpoint) destination.endpoint = endpoint;
    Object.assign(destination, credentials);
    if (kinesis) {
      handled.add('partitionKeyOption');
      const pk = typeof f.partitionKeyOption === 'string' ? f.partitionKeyOption.toUpperCase() : 'RANDOM';
      const unset = f.partitionKeyOption === undefined ? " (not set: the agent's default)" : '';
      if (pk === 'RANDOM')
        unmapped.push(
          `${where}.partitionKeyOption RANDOM${unset}: records are keyed by topic (one topic per source); set the rule's partitionKey (e.g. \${newuuid()}) to spread them over shards`,
        );
      else if (pk === 'DETERMINISTIC') {
        unmapped.push(
          `${where}.partitionKeyOption DETERMINISTIC: records are keyed by topic (one topic per source), not by a hash of their data; set the rule's partitionKey to a field of the record to spread them`,
        );
      }
      if (f.aggregatedRecordSizeBytes !== undefined) {
        handled.add('aggregatedRecordSizeBytes');
        destination.aggregate = true;
      }
    } else if (f.partitionKeyOption !== undefined) {
      handled.add('partitionKeyOption');
      unmapped.push(`${where}.partitionKeyOption: Firehose records have no partition key (the agent uses it for Kinesis Data Streams only)`);
    }
    for (const k of Object.keys(f)) if (!handled.has(k)) unmapped.push(`${where}.${k}: not supported`);

    sources.push(source);
    streams[stream] = { maxBytes: 256 * 1024 * 1024, onFull: 'reject' };
    const action: Json = { name: stream };
    rules.push({
      name: `${name.replace(/[^A-Za-z0-9_]/g, '_')}_to_${stream.replace(/[^A-Za-z0-9_]/g, '_')}`,
      sql: `SELECT * FROM 'file/${name}'`,
      actions: [{ stream: action }],
    });
    const exporter: Json = { name: `${stream}-${kinesis ? 'kinesis' : 'firehose'}`, stream, destination };
    if (Object.keys(batch).length > 0) exporter.batch = batch;
    exporters.push(exporter);
  });
  return { config: { sources, streams, rules: { version: 1, rules }, exporters }, unmapped };
}
