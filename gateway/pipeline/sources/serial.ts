// Source `serial` (built in, named 'serial'): the firmware-bridge links. A decoded frame is
// echoed on the local broker (QoS 0, so MQTT subscribers see serial telemetry on its topic) and
// submitted; the link sends its ACK only once the submit's promise resolves (firmware-bridge/ack.ts).
import type { RuntimeDeps } from '../../../core/deps.js';
import type { SerialBridge, SerialLinkOptions } from '../../../firmware-bridge/index.js';
import type { createSerialBridge } from '../../../firmware-bridge/bridge.js';
import type { Broker } from '../../broker/index.js';
import type { Intake, Source, SourceStatus } from '../contract.js';
import { BoundIntake } from './bound-intake.js';

/** The bridge of a gateway without serial links. */
const NO_LINKS: SerialBridge = { start: async () => undefined, stop: async () => undefined, status: () => [], get: () => undefined };

export class SerialSource implements Source {
  readonly kind = 'serial';
  readonly name = 'serial';
  readonly bridge: SerialBridge;
  private readonly intake = new BoundIntake(this.name);
  private state: 'created' | 'running' | 'stopped' = 'created';

  /**
   * The firmware bridge (links, framing, codecs; serialport when a link opens) loads only when
   * links are configured: an idle gateway without them does not pay for it.
   */
  static async create(options: SerialLinkOptions[], deps: RuntimeDeps & { broker: Broker }): Promise<SerialSource> {
    // From bridge.js, not index.js: the index re-exports the simulator, which loads serialport.
    const bridge = options.length > 0 ? (await import('../../../firmware-bridge/bridge.js')).createSerialBridge : undefined;
    return new SerialSource(bridge, options, deps);
  }

  private constructor(createBridge: typeof createSerialBridge | undefined, options: SerialLinkOptions[], deps: RuntimeDeps & { broker: Broker }) {
    const { broker, ...runtime } = deps;
    if (!createBridge) {
      this.bridge = NO_LINKS;
      return;
    }
    this.bridge = createBridge(options, {
      ...runtime,
      onMessage: (msg) => {
        broker.publish({ topic: msg.topic, payload: msg.payload, qos: 0 }).catch(() => undefined);
        return this.intake.submit(msg);
      },
      subscribe: (filter, handler) => broker.subscribe(filter, handler),
    });
  }

  async start(intake: Intake): Promise<void> {
    this.intake.bind(intake);
    await this.bridge.start();
    // A stop while the links started wins: the source said 'running' or 'retrying' after its stop.
    if (this.state !== 'stopped') this.state = 'running';
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.bridge.stop();
  }

  status(): SourceStatus {
    const links = this.bridge.status();
    const state = this.state !== 'running' ? 'stopped' : links.every((l) => l.state === 'open') ? 'running' : 'retrying';
    // A link that is not open says why (as in /api/links), so 'retrying' here is never unexplained.
    const details = {
      links: links.map((l) =>
        l.state !== 'open'
          ? { name: l.name, path: l.path, state: l.state, lastError: l.lastError, lastErrorAt: l.lastErrorAt }
          : l.paused // reading paused by backpressure: maxInFlight frames not committed yet
            ? { name: l.name, path: l.path, state: l.state, paused: true, pausedAt: l.pausedAt }
            : { name: l.name, path: l.path, state: l.state },
      ),
    };
    return { kind: this.kind, name: this.name, state, details, builtIn: true };
  }
}
