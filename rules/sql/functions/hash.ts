// Hash and encoding functions; decode's Protobuf form is in proto.ts.
import { createHash } from 'node:crypto';
import { define, type FunctionRegistry, type SqlFunctionDef } from './types.js';
import { toStr, type Value } from '../values.js';
import type { Expr } from '../ast.js';
import { ERRORS } from '../../../core/errors.js';
import { ProtoDecoder } from './proto.js';
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
  return (args: Expr[]): string | undefined => {
    const s = args[1];
    if (s && s.kind === 'literal' && (typeof s.value !== 'string' || s.value.toLowerCase() !== 'base64')) {
      return fn === 'decode' ? "decode() supports the 'base64' and 'proto' schemes" : `${fn}() supports only the 'base64' scheme`;
    }
    if (args.length !== 2) return `${fn}() takes 2 arguments (value, 'base64'), got ${args.length}`;
    return undefined;
  };
}

const isProto = (e: Expr | undefined): boolean => e?.kind === 'literal' && typeof e.value === 'string' && e.value.toLowerCase() === 'proto';

const PROTO_ARGS = ['bucket', 'descriptor file', '.proto file name', 'message type'] as const;

/**
 * decode(x, 'proto', bucket, key, file, type): 6 arguments, the last four strings; with all four
 * literal, the descriptor is read and the type looked up now, so a rule set naming a missing file
 * or type is refused when it compiles (GH_PROTO_DESCRIPTOR, thrown by ProtoDecoder.resolve).
 */
function decodeCheck(proto: ProtoDecoder) {
  const base64 = schemeCheck('decode');
  return (args: Expr[]): string | undefined => {
    if (!isProto(args[1])) return base64(args);
    if (args.length !== 6) {
      return `decode(x, 'proto', bucket, key, file, type) takes 6 arguments (the data, 'proto', the bucket, the descriptor file, the .proto file name, the message type), got ${args.length}`;
    }
    const lits: string[] = [];
    for (let i = 2; i < 6; i++) {
      const a = args[i]!;
      if (a.kind !== 'literal') continue;
      if (typeof a.value !== 'string' || a.value === '') return `decode(x, 'proto', ...): the ${PROTO_ARGS[i - 2]} must be a non-empty string`;
      lits.push(a.value);
    }
    // No source (rules sign, the state sweep): the arguments' shape only; the gateway checks the files.
    if (lits.length === 4 && proto.source) proto.resolve(lits[0]!, lits[1]!, lits[2]!, lits[3]!);
    return undefined;
  };
}

/** The Protobuf form at run time (its descriptor arguments evaluated): resolved (cached), then decoded. */
function decodeProto(proto: ProtoDecoder, a: Value[]): Value {
  for (let i = 2; i < 6; i++) {
    const v = a[i];
    if (typeof v !== 'string' || v === '') {
      throw ERRORS.GH_PROTO_DESCRIPTOR({ reason: `decode(x, 'proto', ...): the ${PROTO_ARGS[i - 2]} is ${v === '' ? 'empty' : `not a string (${typeof v})`}` });
    }
  }
  return proto.decode(proto.resolve(a[2] as string, a[3] as string, a[4] as string, a[5] as string), a[0]);
}

export function registerHash(reg: FunctionRegistry, proto: ProtoDecoder = new ProtoDecoder(undefined)): void {
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
      // AWS's Protobuf form has 6 arguments (proto.ts).
      maxArgs: 6,
      since: '2016-03-23',
      // The Protobuf form decodes the payload's bytes; the base64 form reads * as before (its JSON value).
      rawStar: (args) => isProto(args[1]),
      pure: true,
      check: decodeCheck(proto),
      impl: (_c, a) => {
        const scheme = typeof a[1] === 'string' ? a[1].toLowerCase() : undefined;
        if (scheme === 'proto' && a.length === 6) return decodeProto(proto, a);
        if (scheme !== 'base64') return undefined;
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
