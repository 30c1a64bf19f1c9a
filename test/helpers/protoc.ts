// protoc (Debian's protobuf-compiler) as the independent peer of the Protobuf tests: it compiles
// the .proto files into the FileDescriptorSet the gateway reads, and ENCODES the test messages
// from text format (protoc --encode), so the bytes do not come from the library that decodes them.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { needBinary, tempDir } from './index.js';

/** Skip message when protoc is missing (tests that need it: `test('x', { skip: skipProtoc }, ...)`). */
export const skipProtoc = needBinary('protoc', 'protobuf-compiler');

/**
 * The part of Sparkplug B's Payload the tests use, written for them from the field numbers of the
 * Sparkplug specification (Eclipse Tahu's sparkplug_b.proto, EPL-2.0, is the full file: the docs
 * have users fetch it). Wire-compatible with it for these fields: same package, names and numbers.
 */
export const SPARKPLUG_SUBSET_PROTO = `syntax = "proto2";
package org.eclipse.tahu.protobuf;
message Payload {
  message Metric {
    optional string name = 1;
    optional uint64 alias = 2;
    optional uint64 timestamp = 3;
    optional uint32 datatype = 4;
    optional bool is_historical = 5;
    optional bool is_null = 7;
    oneof value {
      uint32 int_value = 10;
      uint64 long_value = 11;
      float float_value = 12;
      double double_value = 13;
      bool boolean_value = 14;
      string string_value = 15;
      bytes bytes_value = 16;
    }
  }
  optional uint64 timestamp = 1;
  repeated Metric metrics = 2;
  optional uint64 seq = 3;
  optional string uuid = 4;
  optional bytes body = 5;
}
`;

/** Every kind of field the decoder maps: scalars, nested, repeated, map, enum, bytes, 64-bit, oneof, an import. */
export const KITCHEN_PROTO = `syntax = "proto3";
package test.kitchen;
import "common.proto";
enum Mode { MODE_UNSET = 0; AUTO = 1; MANUAL = 2; }
enum Verbose { VERBOSE_UNSET = 0; A_VALUE_WITH_A_NAME_FAR_LONGER_THAN_ITS_ONE_BYTE = 1; }
message Reading {
  string device_id = 1;
  double temp = 2;
  float ratio = 3;
  int32 level = 4;
  sint32 offset = 5;
  uint32 count = 6;
  int64 big = 7;
  uint64 ubig = 8;
  fixed64 fbig = 9;
  bool ok = 10;
  bytes raw = 11;
  Mode mode = 12;
  repeated int32 samples = 13;
  repeated common.Tag tags = 14;
  map<string, int64> counters = 15;
  common.Tag main = 16;
  oneof value {
    string text = 17;
    int32 number = 18;
  }
  optional int32 maybe = 19;
  repeated float floats = 20;
  map<string, float> float_map = 21;
  repeated Verbose verbose = 22;
}
message Deep {
  Deep child = 1;
  int32 n = 2;
}
`;

export const COMMON_PROTO = `syntax = "proto3";
package common;
message Tag { string key = 1; string value = 2; }
`;

export interface ProtoWorkspace {
  /** Where the .proto files are (protoc's -I). */
  readonly src: string;
  /** The descriptor folder (a gateway's protoDescriptorDir). */
  readonly descriptors: string;
  /** protoc --include_imports --descriptor_set_out=<descriptors>/<bucket>/<key> <proto>; the path written. */
  describe(bucket: string, key: string, proto: string): Promise<string>;
  /** protoc --encode=<type> <proto> < text: the message's bytes. */
  encode(proto: string, type: string, text: string): Buffer;
  /** protoc --decode=<type> <proto> < bytes: the message in text format. */
  decode(proto: string, type: string, bytes: Buffer): string;
}

function protoc(args: string[], input?: string | Buffer): Buffer {
  const r = spawnSync('protoc', args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`protoc ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

/** A temp dir with `files` (.proto sources by name) and an empty descriptor folder; removed after the test. */
export async function protoWorkspace(t: TestContext, files: Record<string, string>): Promise<ProtoWorkspace> {
  const root = await tempDir(t, 'gatehouse-proto-');
  const src = join(root, 'src');
  const descriptors = join(root, 'descriptors');
  await mkdir(src, { recursive: true });
  await mkdir(descriptors, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(src, name), text);
  return {
    src,
    descriptors,
    async describe(bucket, key, proto) {
      const out = join(descriptors, bucket, ...key.split('/'));
      await mkdir(dirname(out), { recursive: true });
      protoc(['--include_imports', `--descriptor_set_out=${out}`, `-I${src}`, join(src, proto)]);
      return out;
    },
    encode(proto, type, text) {
      return protoc([`--encode=${type}`, `-I${src}`, join(src, proto)], text);
    },
    decode(proto, type, bytes) {
      return protoc([`--decode=${type}`, `-I${src}`, join(src, proto)], bytes).toString('utf8');
    },
  };
}

/**
 * The descriptors the docs' Protobuf examples name, written by protoc into a descriptor folder:
 * the `// file: NAME.proto` blocks of the pages (`texts`: reading.proto, s3://my-bucket/reading.desc),
 * and Sparkplug B's (s3://sparkplug/sparkplug_b.desc), for which the docs have users fetch Eclipse
 * Tahu's file: the tests' wire-compatible subset stands in for it.
 */
export async function docsDescriptors(t: TestContext, texts: string[]): Promise<string> {
  const files: Record<string, string> = { 'sparkplug_b.proto': SPARKPLUG_SUBSET_PROTO };
  for (const text of texts) {
    for (const m of text.matchAll(/```proto\n\/\/ file: (\S+\.proto)\n([\s\S]*?)```/g)) files[m[1]!] = m[2]!;
  }
  const ws = await protoWorkspace(t, files);
  await ws.describe('my-bucket', 'reading.desc', 'reading.proto');
  await ws.describe('sparkplug', 'sparkplug_b.desc', 'sparkplug_b.proto');
  return ws.descriptors;
}
