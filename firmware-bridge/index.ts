// Public API of the firmware bridge.
export { createSerialLink, type SerialLink, type SerialLinkDeps, type SerialLinkStatus, type SerialLinkState, type SubscribeFn } from './link.js';
export { createSerialBridge, type SerialBridge } from './bridge.js';
export {
  SerialLinkOptionsSchema,
  SerialBridgeOptionsSchema,
  FramingSchema,
  CodecSchema,
  type SerialLinkOptions,
  type SerialLinkOptionsInput,
  type FramingOptions,
  type CodecOptions,
} from './options.js';
export { createFraming } from './framing/index.js';
export { createCodec } from './codecs/index.js';
export { createSimulatedDevice, simulatorLinkOptions, type SimulatedDevice, type SimulatorOptions } from './simulator.js';
