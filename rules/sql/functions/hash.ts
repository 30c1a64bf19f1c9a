// Hash and encoding functions.
import { createHash } from 'node:crypto';
import { define, type FunctionRegistry, type SqlFunctionDef } from './types.js';
import { toStr } from '../values.js';
import { md2Hex } from './md2.js';

function hashFn(name: string, algo: string): SqlFunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    impl: (_c, a) => {
      const s = toStr(a[0]);
      return s === undefined ? undefined : createHash(algo).update(s, 'utf8').digest('hex');
    },
  };
}

function schemeCheck(fn: string) {
  return (args: import('../ast.js').Expr[]): string | undefined => {
    const s = args[1];
    // AWS's decode(*, 'proto', bucket, key, file, message) reads the descriptor set from S3.
    if (fn === 'decode' && s?.kind === 'literal' && typeof s.value === 'string' && s.value.toLowerCase() === 'proto') {
      return "decode(*, 'proto', ...) reads its Protobuf descriptor from Amazon S3, which the gateway does not reach: decode Protobuf upstream, or send base64 and decode(x, 'base64')";
    }
    if (s && s.kind === 'literal' && (typeof s.value !== 'string' || s.value.toLowerCase() !== 'base64')) {
      return `${fn}() supports only the 'base64' scheme`;
    }
    if (args.length !== 2) return `${fn}() takes 2 arguments (value, 'base64'), got ${args.length}`;
    return undefined;
  };
}

export function registerHash(reg: FunctionRegistry): void {
  const defs: SqlFunctionDef[] = [
    {
      // OpenSSL 3 has no MD2 by default: ours (md2.ts), so md2() runs on every build.
      name: 'md2',
      minArgs: 1,
      maxArgs: 1,
      pure: true,
      impl: (_c, a) => {
        const s = toStr(a[0]);
        return s === undefined ? undefined : md2Hex(Buffer.from(s, 'utf8'));
      },
    },
    hashFn('md5', 'md5'),
    hashFn('sha1', 'sha1'),
    hashFn('sha224', 'sha224'),
    hashFn('sha256', 'sha256'),
    hashFn('sha384', 'sha384'),
    hashFn('sha512', 'sha512'),
    {
      name: 'encode',
      minArgs: 2,
      maxArgs: 2,
      since: '2016-03-23',
      rawStar: true,
      pure: true,
      check: schemeCheck('encode'),
      impl: (_c, a) => {
        if (typeof a[1] !== 'string' || a[1].toLowerCase() !== 'base64') return undefined;
        const v = a[0];
        if (Buffer.isBuffer(v)) return v.toString('base64');
        const s = toStr(v);
        return s === undefined ? undefined : Buffer.from(s, 'utf8').toString('base64');
      },
    },
    {
      name: 'decode',
      minArgs: 2,
      // AWS's Protobuf form has 6 arguments: the check refuses it with its own reason.
      maxArgs: 6,
      since: '2016-03-23',
      pure: true,
      check: schemeCheck('decode'),
      impl: (_c, a) => {
        if (typeof a[1] !== 'string' || a[1].toLowerCase() !== 'base64') return undefined;
        const s = toStr(a[0]);
        if (s === undefined || !/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(s)) return null;
        const text = Buffer.from(s, 'base64').toString('utf8');
        const t = text.trim();
        if (t.startsWith('{') || t.startsWith('[')) {
          try {
            return JSON.parse(t);
          } catch {
            return text;
          }
        }
        return text;
      },
    },
  ];
  define(reg, defs);
}
