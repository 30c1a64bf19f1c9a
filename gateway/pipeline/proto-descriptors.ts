// Where decode(*, 'proto', bucket, key, ...) finds its descriptor on the gateway: AWS reads the S3
// object s3://bucket/key, the gateway the file <protoDescriptorDir>/<bucket>/<key> (default
// <dataDir>/proto), so an AWS rule runs unchanged once its .desc file is copied there (a key's
// slashes are folders, as the S3 console shows them). docs/decisions.md, "Protobuf descriptors".
// The rules engine gets this as its ProtoDescriptorSource (rules/ reads no files).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, errorMessage, isGatehouseError } from '../../core/errors.js';
import type { ProtoDescriptorSource } from '../../rules/index.js';

/** A descriptor file at most this large (AWS: 32 KiB; Sparkplug B's is ~3 KiB): a rule cannot make the gateway read a disk image. */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

/** A bucket as S3 names them (and a little more: upper case, underscores), never a path. */
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** Why a bucket or key cannot name a file inside the folder, or undefined when it can. */
function badName(bucket: string, key: string): string | undefined {
  if (!BUCKET.test(bucket) || bucket.includes('..')) return `the bucket '${bucket}' is not a bucket name (letters, digits, . _ -)`;
  const parts = key.split('/');
  if (key.includes('\\') || key.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    return `the key '${key}' is not a file name inside the bucket's folder (no empty, '.' or '..' parts, no backslash)`;
  }
  return undefined;
}

/** The folder a configuration names: protoDescriptorDir, else <dataDir>/proto. */
export function protoDescriptorDirOf(config: { dataDir: string; protoDescriptorDir?: string | undefined }): string {
  return config.protoDescriptorDir ?? join(config.dataDir, 'proto');
}

/** The descriptor folder `dir`: <dir>/<bucket>/<key>. */
export function protoDescriptorFolder(dir: string): ProtoDescriptorSource {
  const pathOf = (bucket: string, key: string): string => {
    const bad = badName(bucket, key);
    return bad ? `${dir}/(${bad})` : join(dir, bucket, ...key.split('/'));
  };
  return {
    pathOf,
    read(bucket, key) {
      const bad = badName(bucket, key);
      if (bad) throw ERRORS.GH_PROTO_DESCRIPTOR({ reason: `s3://${bucket}/${key} cannot be read from ${dir}: ${bad}` });
      const path = pathOf(bucket, key);
      const cannot = (why: string, hint?: string) =>
        ERRORS.GH_PROTO_DESCRIPTOR({ reason: `the descriptor s3://${bucket}/${key} is read from ${path}, which ${why}` }, hint ? { hint } : {});
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) throw cannot('is not a file');
        size = st.size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw cannot(
            'does not exist',
            `write it with \`protoc --include_imports --descriptor_set_out=${key.split('/').pop()} <file>.proto\` and copy it to ${path} (the gateway's user must be able to read it)`,
          );
        }
        if (isGatehouseError(err, 'GH_PROTO_DESCRIPTOR')) throw err;
        throw cannot(`cannot be read: ${errorMessage(err)}`, "let the gateway's user read it (chmod o+r, or its group)");
      }
      if (size > MAX_DESCRIPTOR_BYTES) {
        throw cannot(
          `has ${size} bytes, more than ${MAX_DESCRIPTOR_BYTES}`,
          'a FileDescriptorSet of the types the rules decode is a few KiB: is it the right file?',
        );
      }
      try {
        return readFileSync(path);
      } catch (err) {
        throw cannot(`cannot be read: ${errorMessage(err)}`, "let the gateway's user read it (chmod o+r, or its group)");
      }
    },
  };
}
