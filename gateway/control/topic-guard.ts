// Who may publish on the control topics of the local broker. The retained rules/status topic is
// the gateway's alone (a local client overwriting it could fake a successful update); the
// rules/set and rules/rollback topics are open to any client unless control.publishers names the
// user names allowed (signatures still decide what is applied).
import type { ControlOptions } from './options.js';
import { controlTopics } from './remote.js';

/** Structurally the broker's TopicGuard (control/ does not import the broker). */
export interface ControlTopicGuard {
  refusePublish(topic: string, user: string | undefined): string | undefined;
}

export function controlTopicGuard(control: Pick<ControlOptions, 'prefix' | 'publishers'>, gatewayId: string): ControlTopicGuard {
  const t = controlTopics(control.prefix, gatewayId);
  const publishers = control.publishers ? new Set(control.publishers) : undefined;
  return {
    refusePublish(topic, user) {
      if (topic === t.status) return 'only the gateway publishes its rule status';
      if (publishers && (topic === t.set || topic === t.rollback) && (user === undefined || !publishers.has(user))) {
        return `user ${user === undefined ? '(anonymous)' : JSON.stringify(user)} is not in control.publishers`;
      }
      return undefined;
    },
  };
}
