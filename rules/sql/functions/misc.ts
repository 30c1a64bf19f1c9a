// Collection, null-test, uuid and transform functions.
import { randomUUID } from 'node:crypto';
import { define, type FunctionRegistry } from './types.js';
import { isObject, toIntFloor, type Value } from '../values.js';

export function registerMisc(reg: FunctionRegistry): void {
  define(reg, [
    {
      name: 'get',
      minArgs: 2,
      maxArgs: 2,
      pure: true,
      impl: (_c, a) => {
        const coll = a[0];
        if (Array.isArray(coll)) {
          const i = toIntFloor(a[1]);
          return i === undefined || i < 0 || i >= coll.length ? undefined : coll[i];
        }
        if (typeof coll === 'string') {
          const i = toIntFloor(a[1]);
          return i === undefined || i < 0 || i >= coll.length ? undefined : coll[i];
        }
        if (isObject(coll) && typeof a[1] === 'string') {
          return Object.hasOwn(coll, a[1]) ? coll[a[1]] : undefined;
        }
        return undefined;
      },
    },
    {
      name: 'get_or_default',
      minArgs: 1,
      maxArgs: 2,
      since: '2016-03-23',
      pure: true,
      impl: (_c, a) => (a[0] === undefined || a[0] === null ? a[1] : a[0]),
    },
    { name: 'isNull', minArgs: 1, maxArgs: 1, pure: true, impl: (_c, a) => a[0] === null },
    { name: 'isUndefined', minArgs: 1, maxArgs: 1, since: '2016-03-23', pure: true, impl: (_c, a) => a[0] === undefined },
    { name: 'newuuid', minArgs: 0, maxArgs: 0, impl: () => randomUUID() },
    {
      name: 'transform',
      minArgs: 3,
      maxArgs: 3,
      since: '2016-03-23',
      pure: true,
      impl: (_c, a) => {
        const mode = a[0];
        const obj = a[1];
        const arr = a[2];
        if (typeof mode !== 'string' || mode !== 'enrichArray' || !isObject(obj) || !Array.isArray(arr)) return undefined;
        const out: Value[] = [];
        // Non-object elements are skipped: the mode is defined on "an array of objects".
        for (const el of arr) if (isObject(el)) out.push({ ...el, ...obj });
        return out;
      },
    },
  ]);
}
