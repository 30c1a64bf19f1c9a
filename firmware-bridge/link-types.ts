// Public types of a serial link (kept apart from the implementation in link.ts).
import type { RuntimeDeps } from '../core/deps.js';
import type { Message } from '../core/message.js';
import type { Decoded } from './codecs/index.js';
import type { SerialLinkOptions } from './options.js';

export type SerialLinkState = 'open' | 'closed' | 'retrying';

export interface SerialLinkStatus {
  name: string;
  path: string;
  state: SerialLinkState;
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  frameErrors: number;
  decodeErrors: number;
  reconnects: number;
  /** Frames handed on and not committed yet; reading pauses when it reaches maxInFlight. */
  inFlight: number;
  maxInFlight: number;
  /** Reading the port is paused by backpressure (maxInFlight frames not committed): the device's bytes wait in the port. */
  paused: boolean;
  /** Pauses since the start (a pause between two reads of the status shows here). */
  pauses: number;
  /** When the current pause began (epoch ms); absent while reading. */
  pausedAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  openedAt?: number;
  /** When the last frame was decoded (epoch ms): a device gone silent on an open port shows here. */
  lastFrameAt?: number;
}

export type SubscribeFn = (filter: string, handler: (topic: string, payload: Buffer) => void) => () => void;

export interface SerialLinkDeps extends RuntimeDeps {
  /** Hand a decoded frame on; the promise resolves once derived durable records are committed. */
  onMessage(msg: Message): Promise<void> | undefined;
  /** Subscribe to the broker for the downlink (commandTopic); returns an unsubscribe function. */
  subscribe?: SubscribeFn;
}

export interface SerialLink {
  readonly name: string;
  readonly options: SerialLinkOptions;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): SerialLinkStatus;
  /** Buffer: codec bytes, framed as-is. Object: encoded with the codec, then framed. */
  write(payload: Buffer | Decoded): Promise<void>;
  /** A downlink command payload (MQTT or rule output): a JSON object is codec-encoded, anything else framed raw. */
  writeCommand(payload: Buffer): Promise<void>;
}
