// decode(<data>, 'proto', '<bucket>', '<key>.desc', '<proto file>', '<message type>'): AWS IoT's
// Protobuf decoding. The descriptor is a FileDescriptorSet (protoc --include_imports
// --descriptor_set_out); AWS reads it from s3://bucket/key, the gateway from the file the injected
// ProtoDescriptorSource names (<protoDescriptorDir>/<bucket>/<key>). protobufjs is loaded on the
// first use (a rule that decodes Protobuf compiling), never by a gateway whose rules do not.
//
// Output: protobuf's canonical JSON mapping: lowerCamelCase field names (the descriptor's
// json_name), 64-bit integers as decimal strings, enums by name, bytes as base64, a float as the
// shortest decimal of its float32 (proto-reflect.ts), fields left unset omitted, unknown fields
// dropped (docs/rules-sql.md says what AWS documents and where we differ). Made by protobufjs's
// generated toObject() for a proto2 type without well-known types (Sparkplug B's: 2.5x faster),
// by its ProtoJSON walk (protobufjs/ext/protojson) for the others.
//
// Bounds (a payload comes from any client): the payload at most 128 KiB (AWS's inbound limit),
// nesting at most protobufjs's recursion limit (100, protoc's), the decoded JSON at most 1 MiB.
// A payload that is not that message throws GH_PROTO_DECODE: the engine counts a rule error and
// hands the message to the rule's error action, as AWS fails the rule (the one function that
// throws; the others return Undefined on bad input).
import { basename } from 'node:path';
import { ERRORS, errorMessage } from '../../../core/errors.js';
import { monotonicNow } from '../../../core/clock.js';
import { lazyPackage } from '../../../core/lazy-package.js';
import type { ProtoDescriptorSource } from '../../types.js';
import type { Value } from '../values.js';
import { maxCharsPerByte, plainForToObject, roundFloats, type ReflectedType } from './proto-reflect.js';

/** AWS IoT's inbound payload limit for Protobuf decoding. */
export const PROTO_MAX_PAYLOAD_BYTES = 128 * 1024;
/** The decoded value, as JSON text, at most this many characters. */
export const PROTO_MAX_JSON_CHARS = 1024 * 1024;
/** Descriptor sets and resolved types kept per compiled rule set (cleared when full). */
const MAX_CACHED = 64;
/** A descriptor file that does not parse is read again after this long (a rule naming it per message). */
export const PROTO_UNUSABLE_RETRY_MS = 10_000;

// The parts of protobufjs used here (its own typings declare far more, spread over three entry points).
interface PbType extends ReflectedType {
  decode(bytes: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}
interface PbRoot {
  resolveAll(): PbRoot;
  lookup(name: string): unknown;
}
interface MessageDescriptor {
  name?: string;
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}
interface FileDescriptor {
  name?: string;
  package?: string;
  messageType?: MessageDescriptor[];
}
interface FileDescriptorSet {
  file?: FileDescriptor[];
}
interface PbLight {
  Root: { fromDescriptor(set: FileDescriptorSet): PbRoot };
  Type: abstract new (...args: never[]) => PbType;
}
interface PbDescriptorExt {
  FileDescriptorSet: { decode(bytes: Uint8Array): FileDescriptorSet };
}
interface PbProtoJson {
  toJson(type: PbType, message: unknown): unknown;
}

const FEATURE = "decode(*, 'proto', ...) in a rule";
const light = lazyPackage<PbLight>('protobufjs/light', FEATURE);
const descriptorExt = lazyPackage<PbDescriptorExt>('protobufjs/ext/descriptor', FEATURE);
const protoJson = lazyPackage<PbProtoJson>('protobufjs/ext/protojson', FEATURE);

/** A message type of a descriptor set, ready to decode with. */
export interface ResolvedProtoType {
  readonly type: PbType;
  /** Fully-qualified name without the leading dot ('org.eclipse.tahu.protobuf.Payload'). */
  readonly name: string;
  /** A payload of at most this many bytes cannot decode to more than PROTO_MAX_JSON_CHARS: not measured. */
  readonly safeBytes: number;
  /** toObject() writes its canonical JSON (proto-reflect.ts plainForToObject), else ProtoJSON. */
  readonly plain: boolean;
}

/** toObject()'s options for the canonical mapping: 64-bit integers, enums and bytes as text, NaN as "NaN". */
const TO_OBJECT = { longs: String, enums: String, bytes: String, json: true };

interface LoadedSet {
  readonly root: PbRoot;
  readonly files: FileDescriptor[];
  readonly path: string;
}

/** Message type names of a file, fully qualified, nested ones too (not the entries protoc makes for a map). */
function messageNames(file: FileDescriptor): string[] {
  const out: string[] = [];
  const walk = (prefix: string, msgs: MessageDescriptor[] | undefined): void => {
    for (const m of msgs ?? []) {
      if (m.options?.mapEntry) continue;
      const name = prefix ? `${prefix}.${m.name}` : `${m.name}`;
      out.push(name);
      walk(name, m.nestedType);
    }
  };
  walk(file.package ?? '', file.messageType);
  return out;
}

function listed(names: string[]): string {
  const MAX = 20;
  if (names.length === 0) return 'none';
  return names.length > MAX ? `${names.slice(0, MAX).join(', ')} and ${names.length - MAX} more` : names.join(', ');
}

const stripProto = (n: string): string => (n.endsWith('.proto') ? n.slice(0, -'.proto'.length) : n);

/**
 * AWS's fifth argument names the .proto file the type is in: 'sparkplug_b' (AWS's examples leave
 * out .proto), 'sparkplug_b.proto', or the name protoc gave it ('edgecommons/v1/message.proto').
 */
function findFile(files: FileDescriptor[], wanted: string): FileDescriptor | undefined {
  const w = stripProto(wanted);
  return (
    files.find((f) => f.name === wanted || stripProto(f.name ?? '') === w) ??
    files.find((f) => stripProto(basename(f.name ?? '')) === stripProto(basename(wanted)))
  );
}

const isBase64 = (s: string): boolean => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** The FileDescriptorSet in `bytes` (the file `path`), its types resolved. Throws GH_PROTO_DESCRIPTOR. */
function parseSet(bytes: Buffer, path: string): { root: PbRoot; files: FileDescriptor[] } {
  const notASet = (why: string) =>
    ERRORS.GH_PROTO_DESCRIPTOR(
      { reason: `${path} is not a Protobuf FileDescriptorSet (${why})` },
      {
        hint: 'write it with `protoc --include_imports --descriptor_set_out=FILE.desc FILE.proto` (a .proto file itself, or the output of --encode, is not one)',
      },
    );
  let set: FileDescriptorSet;
  try {
    set = descriptorExt().FileDescriptorSet.decode(bytes);
  } catch (err) {
    throw notASet(errorMessage(err));
  }
  const files = set.file ?? [];
  if (files.length === 0 || files.some((f) => !f.name)) throw notASet(files.length === 0 ? 'it describes no .proto file' : 'a file in it has no name');
  try {
    return { root: light().Root.fromDescriptor(set).resolveAll(), files };
  } catch (err) {
    throw ERRORS.GH_PROTO_DESCRIPTOR(
      { reason: `the types of ${path} do not resolve: ${errorMessage(err)}` },
      { hint: 'write it again with protoc --include_imports, so that the files it imports are in it' },
    );
  }
}

/**
 * Descriptor sets and message types of one compiled rule set: a rule set compiled again (an update,
 * a restart, a SIGHUP with a changed rule set) reads its descriptor files again, so a changed .desc
 * file is taken then.
 */
export class ProtoDecoder {
  private readonly sets = new Map<string, LoadedSet>();
  private readonly types = new Map<string, ResolvedProtoType>();
  /**
   * A file read but not usable (not a FileDescriptorSet, types that do not resolve), by bucket and
   * key, until when (monotonic ms): a rule whose descriptor is named per message would otherwise read
   * and parse up to 1 MiB for every message. A missing file is not kept (a stat says so cheaply).
   */
  private readonly unusable = new Map<string, { error: Error; until: number }>();

  constructor(
    readonly source: ProtoDescriptorSource | undefined,
    private readonly now: () => number = monotonicNow,
  ) {}

  private load(bucket: string, key: string): LoadedSet {
    const id = `${bucket}\0${key}`;
    const known = this.sets.get(id);
    if (known) return known;
    const bad = this.unusable.get(id);
    if (bad && this.now() < bad.until) throw bad.error;
    if (!this.source) {
      throw ERRORS.GH_PROTO_DESCRIPTOR(
        { reason: `no folder is set for Protobuf descriptors, so s3://${bucket}/${key} cannot be read` },
        { hint: 'run it in a gateway (protoDescriptorDir, default <dataDir>/proto), or give `gatehouse rules` --proto-dir DIR' },
      );
    }
    const path = this.source.pathOf(bucket, key);
    // Missing, unreadable, too large: thrown as it is, and looked at again by the next message.
    const bytes = this.source.read(bucket, key);
    let loaded: LoadedSet;
    try {
      loaded = { ...parseSet(bytes, path), path };
    } catch (err) {
      if (this.unusable.size >= MAX_CACHED) this.unusable.clear();
      this.unusable.set(id, { error: err as Error, until: this.now() + PROTO_UNUSABLE_RETRY_MS });
      throw err;
    }
    this.unusable.delete(id);
    if (this.sets.size >= MAX_CACHED) this.sets.clear();
    this.sets.set(id, loaded);
    return loaded;
  }

  /** The message type `type` of `file` in s3://bucket/key. Throws GH_PROTO_DESCRIPTOR naming what the file has. */
  resolve(bucket: string, key: string, file: string, type: string): ResolvedProtoType {
    const id = `${bucket}\0${key}\0${file}\0${type}`;
    const known = this.types.get(id);
    if (known) return known;
    const set = this.load(bucket, key);
    const f = findFile(set.files, file);
    if (!f) {
      throw ERRORS.GH_PROTO_DESCRIPTOR(
        { reason: `${set.path} holds no .proto file '${file}' (it holds: ${listed(set.files.map((x) => x.name ?? ''))})` },
        { hint: "name one of those files in the fifth argument of decode (with or without '.proto')" },
      );
    }
    // A name relative to the file's package first ('Payload'), as AWS's examples write it, then fully qualified.
    const bare = type.startsWith('.') ? type.slice(1) : type;
    const candidates = type.startsWith('.') || !f.package ? [bare] : [`${f.package}.${bare}`, bare];
    const Type = light().Type;
    let found: PbType | undefined;
    for (const c of candidates) {
      let t: unknown;
      try {
        t = set.root.lookup(c);
      } catch {
        t = undefined; // a name protobufjs cannot parse is no type of the file
      }
      if (t instanceof Type) {
        found = t;
        break;
      }
    }
    if (!found) {
      throw ERRORS.GH_PROTO_DESCRIPTOR(
        { reason: `${set.path} has no message type '${type}' in ${f.name} (its message types: ${listed(messageNames(f))})` },
        { hint: 'name one of those types in the last argument of decode (fully qualified, or relative to the package of the file)' },
      );
    }
    if (this.types.size >= MAX_CACHED) this.types.clear();
    const resolved = {
      type: found,
      name: found.fullName.replace(/^\./, ''),
      safeBytes: Math.floor(PROTO_MAX_JSON_CHARS / maxCharsPerByte(found)),
      plain: plainForToObject(found),
    };
    this.types.set(id, resolved);
    return resolved;
  }

  /** Decode the payload (a Buffer, `*`) or a base64 string as `t`. Undefined in, Undefined out. */
  decode(t: ResolvedProtoType, input: Value): Value {
    let bytes: Uint8Array;
    let what: string;
    if (input === undefined || input === null) return undefined;
    if (Buffer.isBuffer(input)) {
      bytes = input;
      what = `the payload (${input.length} bytes)`;
    } else if (typeof input === 'string') {
      if (!isBase64(input)) {
        throw ERRORS.GH_PROTO_DECODE({
          what: 'a string',
          type: t.name,
          reason: 'it is not base64 (decode takes * for the payload, or base64 text of a message)',
        });
      }
      bytes = Buffer.from(input, 'base64');
      what = `a base64 string (${bytes.length} bytes)`;
    } else {
      throw ERRORS.GH_PROTO_DECODE({ what: kindOf(input), type: t.name, reason: 'decode takes * for the payload, or base64 text of a message' });
    }
    if (bytes.length > PROTO_MAX_PAYLOAD_BYTES) {
      throw ERRORS.GH_PROTO_DECODE({
        what,
        type: t.name,
        reason: `it is larger than ${PROTO_MAX_PAYLOAD_BYTES} bytes (AWS IoT's limit for Protobuf decoding)`,
      });
    }
    let json: unknown;
    try {
      const msg = t.type.decode(bytes);
      roundFloats(t.type, msg);
      json = t.plain ? t.type.toObject(msg, TO_OBJECT) : protoJson().toJson(t.type, msg);
    } catch (err) {
      throw ERRORS.GH_PROTO_DECODE({ what, type: t.name, reason: errorMessage(err) });
    }
    // Measured only for a payload that could make too much (a Sparkplug NDATA under ~15 KiB is not).
    const chars = bytes.length <= t.safeBytes ? 0 : JSON.stringify(json).length;
    if (chars > PROTO_MAX_JSON_CHARS) {
      throw ERRORS.GH_PROTO_DECODE({ what, type: t.name, reason: `its JSON form has ${chars} characters, more than ${PROTO_MAX_JSON_CHARS}` });
    }
    return json;
  }
}
