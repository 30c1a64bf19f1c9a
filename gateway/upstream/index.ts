// Public surface of the upstream exporters. It holds the static registry of every destination kind
// (registry.ts): the running gateway's modules import the parts they use instead, and load a kind
// when it is used (loaders.ts; test/integration/idle-lazy.test.ts checks the start loads neither).
export { createExporter, type Exporter, type ExporterDeps } from './exporter.js';
export type { ExporterStatus, ExporterState } from './status.js';
export { exporterMetrics } from './status.js';
export {
  exporterOptionsSchema,
  batchOptionsSchema,
  backoffOptionsSchema,
  fileDestinationSchema,
  httpDestinationSchema,
  parseExporterOptions,
  DESTINATION_TYPES,
  type ExporterOptions,
  type ExporterOptionsInput,
  type BatchOptions,
  type BackoffOptions,
  type FileDestinationOptions,
  type HttpDestinationOptions,
  type DestinationType,
} from './options.js';
export {
  destinationFactories,
  createDestination,
  parseDestinationOptions,
  type DestinationFactory,
  type DestinationFactories,
  type DestinationDeps,
  type DestinationKinds,
  allDestinationKinds,
} from './registry.js';
export { lazyDestinationKinds, DESTINATION_LOADERS } from './loaders.js';
export { TokenBucket, UplinkScheduler, type BandwidthLimiter } from './rate-limit.js';
export { fullJitterDelay, backoffCap } from './backoff.js';
export { FileDestination, createFileDestination, ndjsonLine, partitionOf } from './destinations/file.js';
export { HttpDestination, createHttpDestination } from './destinations/http.js';
export { recordId, type Destination, type DestinationLimits, type RecordResult } from './types.js';
