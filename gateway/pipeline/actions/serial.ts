// Rule action `{ serial: { link: 'name' } }`: writes the rule's output to a serial link (a JSON
// object is encoded with the link's codec; anything else is framed raw). Non-durable: it doesn't
// gate the source's acknowledgement; a failure (link down, queue full) rejects the promise so the
// rules engine can count it and run the error action.
import { ERRORS } from '../../../core/errors.js';
import type { Action, ActionFactory } from '../../../rules/index.js';
import type { SerialLink } from '../../../firmware-bridge/index.js';

export interface SerialLinkLookup {
  get(name: string): SerialLink | undefined;
}

export function serialAction(links: SerialLinkLookup): ActionFactory {
  return (options, tools): Action => {
    const name = options.link;
    if (typeof name !== 'string' || name.length === 0) {
      // As republish's refused options: the rule set lists it under the rule and action.
      throw ERRORS.GH_ACTION_FAILED(
        { action: 'serial', rule: tools.rule, reason: "it needs 'link', the name of a serial link" },
        { where: 'actions.serial.link', hint: "write { serial: { link: 'uart0' } }" },
      );
    }
    const check = (): void => {
      if (!links.get(name)) throw ERRORS.GH_SERIAL_LINK_UNKNOWN({ link: name }, { where: 'actions.serial.link' });
    };
    return {
      kind: 'serial',
      resource: name,
      durable: false,
      validate: check,
      check,
      execute(output) {
        const link = links.get(name);
        if (!link) return Promise.reject(ERRORS.GH_SERIAL_LINK_UNKNOWN({ link: name }, { where: 'actions.serial.link' }));
        return link.writeCommand(output);
      },
    };
  };
}
