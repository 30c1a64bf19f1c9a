// What a source kind is made of (its options schema base, its dependencies, its factory), apart
// from the registry that lists the kinds: kinds import this file, the registry imports the kinds,
// so there is no import cycle.
import { z } from '../../../core/zod.js';
import type { ProxySettings } from '../../upstream/proxy.js';
import type { RuntimeDeps } from '../../../core/deps.js';
import type { Source } from '../contract.js';

export const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * `logger` comes bound to `{ source: name }` (createConfiguredSources in index.ts): a kind never
 * logs a `source` field itself, which would write the key twice in one JSON line.
 */
export interface SourceDeps extends RuntimeDeps {
  /** The gateway's data folder (certificates, trust lists and other per-source files live below it). */
  dataDir: string;
  /** The config's gatewayId (default: the host name), for a client id's ${gatewayId}. */
  gatewayId?: string;
  /**
   * The gateway's installation id (upstream/installation-id.ts: bound to its store and machine), for
   * a client id's ${installationId}; absent: the one kept in dataDir.
   */
  installationId?: () => Promise<string>;
  /**
   * Publish on the local broker (QoS 0, not durable), for sources whose readings MQTT subscribers
   * also see; `retain` (an http source's ?retain=true) is kept within the broker's retained bounds.
   */
  publish?: (topic: string, payload: Buffer, options?: { retain?: boolean }) => void;
  /** The config's network.proxy and the environment to read: an MQTT source's way to its broker (upstream/proxy.ts). */
  network?: ProxySettings;
  /** The broker's maxTopicLength: the longest topic a source that names topics from outside (http) takes. */
  maxTopicLength?: number;
  /** The embedded broker's listeners as bound (a sparkplug source without url connects to one). */
  localBroker?: () => Array<{ host: string; port: number; tls: boolean }>;
  /** Subscribe on the local broker (command topics for downlink writes); returns an unsubscribe. */
  subscribe?: (filter: string, handler: (topic: string, payload: Buffer) => void) => () => void;
}

export interface SourceKind<S extends z.ZodType = z.ZodType> {
  type: string;
  /** zod schema of one `sources:` entry of this kind, including `type` (a literal) and `name`. */
  schema: S;
  /** Create the source (not started); import heavy libraries here, lazily. */
  create(options: z.output<S>, deps: SourceDeps): Promise<Source>;
  /**
   * Optional: check what create() will need without loading or connecting anything (e.g. that an
   * optional library is installed, that named files hold what they must); throws a GatehouseError.
   * Run by check-config.
   */
  preflight?(options: z.output<S>): void | Promise<void>;
}

/** Base fields every source entry has. Kinds extend this with `.extend({ type: z.literal('x'), ... })`. */
export const sourceBaseSchema = z.strictObject({
  name: z.string().regex(SOURCE_NAME, 'source names: letters, digits, _ . - (max 64)').describe('Unique name of this source (status, metrics, logs).'),
  enabled: z.boolean().default(true).describe('Set false to keep the entry but not start it.'),
});
