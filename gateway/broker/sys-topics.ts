// The broker's own figures on `$SYS/broker/...`, under mosquitto's names (its `sys_interval`): what
// `mosquitto_sub -v -t '$SYS/#'`, MQTT Explorer, Home Assistant's and Zabbix's mosquitto
// templates read. Published every `sysIntervalSec` at QoS 0, and at once (at most once a second)
// when a 3.1.1 client subscribes to a `$SYS` filter, in place of mosquitto's retain flag: retained,
// they would rewrite the broker's retained file (an SD card) at every round, for figures that are
// stale at the next. Only what the broker counts already (BrokerStats): building a round costs a
// dozen small Buffers, and nothing when the interval is 0.
import type { BrokerStats } from './metrics.js';
import type { BrokerPublishPacket } from './internal-bus.js';

export interface SysTopicsDeps {
  stats: BrokerStats;
  /** The broker's internal publish (to 3.1.1 and MQTT 5 subscribers alike). */
  publish(packet: BrokerPublishPacket): Promise<void>;
  /** `gatehouse <version>`, as mosquitto's `mosquitto version 2.0.11`. */
  version: string;
  /** Monotonic milliseconds (uptime, the load averages' clock). */
  monotonic(): number;
  onError(err: unknown): void;
}

/** One load average: messages per minute, decayed as mosquitto's (exponentially, over its window). */
class LoadAverage {
  value = 0;
  constructor(private readonly windowS: number) {}
  /** `perMinute` measured over the last `dtS` seconds. */
  add(perMinute: number, dtS: number): void {
    const k = Math.exp(-dtS / this.windowS);
    this.value = perMinute + k * (this.value - perMinute);
  }
}

const WINDOWS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const;

export interface SysTopics {
  /** A round now (a client subscribed to $SYS); at most one a second: one within a second of the last comes when it is over. */
  subscribed(): void;
  stop(): void;
}

export function startSysTopics(intervalSec: number, deps: SysTopicsDeps): SysTopics {
  if (intervalSec <= 0) return { subscribed: () => undefined, stop: () => undefined };
  const { stats } = deps;
  const startedAt = deps.monotonic();
  let lastRound = Number.NEGATIVE_INFINITY;
  let last = { at: startedAt, received: 0, sent: 0 };
  let maxClients = 0;
  const loads = {
    received: WINDOWS.map(([name, s]) => [name, new LoadAverage(s)] as const),
    sent: WINDOWS.map(([name, s]) => [name, new LoadAverage(s)] as const),
  };

  const received = (): number => stats.messagesIn[0]! + stats.messagesIn[1]! + stats.messagesIn[2]!;

  /** The load averages move only on the timer's rounds: a subscriber's round must not skew them. */
  const tick = (): void => {
    const at = deps.monotonic();
    const dtS = (at - last.at) / 1000;
    if (dtS <= 0) return;
    const now = { at, received: received(), sent: stats.messagesOut };
    for (const [, l] of loads.received) l.add(((now.received - last.received) / dtS) * 60, dtS);
    for (const [, l] of loads.sent) l.add(((now.sent - last.sent) / dtS) * 60, dtS);
    last = now;
  };

  const round = (): void => {
    lastRound = deps.monotonic();
    maxClients = Math.max(maxClients, stats.clients);
    const figures: Array<[string, string | number]> = [
      ['version', deps.version],
      ['uptime', `${Math.floor((lastRound - startedAt) / 1000)} seconds`],
      ['clients/connected', stats.clients],
      ['clients/maximum', maxClients],
      ['messages/received', received()],
      ['messages/sent', stats.messagesOut],
      ['publish/messages/received', received()],
      ['publish/messages/sent', stats.messagesOut],
      ['publish/messages/dropped', stats.outboundDropped + stats.offlineDropped],
      ['bytes/received', stats.bytesIn],
      ['retained messages/count', stats.retainedMessages],
    ];
    for (const [name, l] of loads.received) figures.push([`load/messages/received/${name}`, l.value.toFixed(2)]);
    for (const [name, l] of loads.sent) figures.push([`load/messages/sent/${name}`, l.value.toFixed(2)]);
    for (const [name, value] of figures) {
      deps.publish({ topic: `$SYS/broker/${name}`, payload: Buffer.from(String(value)), qos: 0 }).catch(deps.onError);
    }
  };

  const timer = setInterval(() => {
    tick();
    round();
  }, intervalSec * 1000);
  timer.unref();
  /** A subscriber's round within a second of the last: sent when the second is over (one for all). */
  let soon: NodeJS.Timeout | undefined;
  return {
    subscribed() {
      const wait = lastRound + 1000 - deps.monotonic();
      if (wait <= 0) round();
      else
        soon ??= setTimeout(() => {
          soon = undefined;
          round();
        }, wait).unref();
    },
    stop() {
      clearInterval(timer);
      clearTimeout(soon);
    },
  };
}

/** Whether a SUBSCRIBE filter can match `$SYS/broker/...` (wildcard-first filters never do: MQTT-4.7.2-1). */
export function isSysFilter(filter: string): boolean {
  return filter.startsWith('$SYS');
}
