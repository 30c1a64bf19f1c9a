// get_thing_shadow(thingName, roleArn) and get_thing_shadow(thingName, shadowName, roleArn): AWS
// IoT reads the Device Shadow service; a gateway reads its own local shadows (gateway/shadow/),
// handed in as a ShadowLookup. The role ARN is what AWS needs to read the shadow: a gateway has no
// roles, so it is taken (it must be a string, as AWS requires) and not used. A shadow that does
// not exist is Undefined (the rule goes on, as with a missing field).
import type { ShadowLookup } from '../../types.js';
import { define, type FunctionRegistry } from './types.js';
import { toStr, type Value } from '../values.js';

export function registerShadow(reg: FunctionRegistry, shadows: ShadowLookup): void {
  define(reg, [
    {
      name: 'get_thing_shadow',
      minArgs: 2,
      maxArgs: 3,
      impl: (_c, a): Value => {
        const thing = typeof a[0] === 'string' ? a[0] : toStr(a[0]);
        if (thing === undefined || thing === '') return undefined;
        // the last argument is the role ARN; with three, the middle one is the shadow's name
        const name = a.length === 3 ? (typeof a[1] === 'string' ? a[1] : toStr(a[1])) : undefined;
        if (a.length === 3 && (name === undefined || name === '')) return undefined;
        return shadows.get(thing, name) as Value;
      },
    },
  ]);
}

/**
 * A lookup that finds no shadow: what a rule set is compiled with where no gateway runs (`rules
 * check`, `rules eval`, check-config, the sweep of unused rule state), so get_thing_shadow() compiles.
 */
export const NO_SHADOWS: ShadowLookup = { get: () => undefined };
