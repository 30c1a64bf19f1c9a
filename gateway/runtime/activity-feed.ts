// The status page's feed at start: the Activity ring (rates, events), the alerts seen on the
// broker's alert topics, each rule set update, and a configured rule set refused at start (the
// configured set runs instead: said once, as the first event).
import type { Registry } from 'prom-client';
import type { Broker } from '../broker/index.js';
import type { RuleHost, RuleUpdateStatus } from '../pipeline/index.js';
import { Activity } from './activity.js';

export function startActivityFeed(p: { registry: Registry; broker: Broker; rules: RuleHost; alertTopics: readonly string[] }): Activity {
  const activity = new Activity(p.registry);
  activity.start();
  for (const filter of p.alertTopics) {
    p.broker.subscribe(filter, (topic, payload) => activity.record({ kind: 'alert', message: `alert on ${topic}`, topic, payload: payload.toString('utf8') }));
  }
  p.rules.on('status', (s: RuleUpdateStatus) =>
    activity.record({
      kind: 'rules',
      message: `rule set ${s.version ?? '?'} ${s.state} (${s.source})${s.errors.length ? `: ${s.errors.map((e) => e.message).join('; ')}` : ''}`,
    }),
  );
  const startRefusal = (p.rules.status() as { lastUpdate: { state: string; version: number | null; source: string } | null }).lastUpdate;
  if (startRefusal?.state === 'rejected') {
    activity.record({
      kind: 'rules',
      message: `rule set ${startRefusal.version ?? '?'} rejected (${startRefusal.source}): the configured rule set runs instead`,
    });
  }
  return activity;
}
