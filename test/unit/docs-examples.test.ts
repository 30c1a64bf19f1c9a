// Every YAML example in the README and docs/ must run as written: each block is checked the way a
// user would check it, through the real CLI (`gatehouse check-config`, `gatehouse rules check`).
// - a configuration (any top-level config key) -> check-config, which must pass with no warning;
// - a rule set (version + rules) -> rules check;
// - a lone `destination:` (as the destination pages show them) -> check-config of a config that
//   exports `archive` through it.
// Absolute example paths under /etc/gatehouse and /var/lib/gatehouse are moved into a temp dir
// (placeholder files are created there: check-config checks that named files exist, not what they
// hold); relative ones (rulesFile: fleet-rules.yaml) resolve against a copy of docs/examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { main } from '../../gateway/cli/main.js';
import { repoRoot, tempDir } from '../helpers/index.js';
import { FIXTURE_CERT_PEM, FIXTURE_CRL_PEM, FIXTURE_DEVICE_CA_PEM, FIXTURE_KEY_PEM } from '../helpers/tls-fixture.js';
import { docsDescriptors, skipProtoc } from '../helpers/protoc.js';

interface Block {
  file: string;
  line: number;
  text: string;
}

async function yamlBlocks(): Promise<Block[]> {
  const files = ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
  const out: Block[] = [];
  for (const file of files) {
    const lines = (await readFile(join(repoRoot, file), 'utf8')).split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.trim() !== '```yaml') continue;
      const start = i + 1;
      const body: string[] = [];
      for (i = start; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
      out.push({ file, line: start + 1, text: body.join('\n') });
    }
  }
  return out;
}

function sink(): { stream: Writable; text: () => string } {
  let s = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        s += chunk.toString();
        cb();
      },
    }),
    text: () => s,
  };
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  let code: number;
  try {
    code = await main(argv, { stdout: out.stream, stderr: err.stream });
  } catch (e) {
    code = 1;
    err.stream.write(String(e));
  }
  return { code, stdout: out.text(), stderr: err.text() };
}

const CONFIG_KEYS = new Set([
  'gatewayId',
  'dataDir',
  'log',
  'broker',
  'store',
  'streams',
  'rules',
  'rulesFile',
  'tables',
  'ruleState',
  'exporters',
  'uplink',
  'network',
  'serial',
  'sources',
  'admin',
  'control',
  'jobs',
  'shutdownTimeoutMs',
  'protoDescriptorDir',
  'shadows',
]);

test('every YAML example in README.md and docs/ passes the CLI checks as written', async (t) => {
  const blocks = await yamlBlocks();
  assert.ok(blocks.length >= 10, `found only ${blocks.length} YAML blocks`);
  let checked = 0;
  // A rule decoding Protobuf reads its descriptor when it is checked: the docs' ones, made by protoc.
  const pagesText = await Promise.all(
    ['README.md', ...(await readdir(join(repoRoot, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))].map((f) =>
      readFile(join(repoRoot, f), 'utf8'),
    ),
  );
  const protoDir = skipProtoc ? undefined : await docsDescriptors(t, pagesText);
  let skipped = 0;
  for (const b of blocks) {
    const proto = /decode\([^)]*'proto'/i.test(b.text);
    if (proto && !protoDir) {
      skipped++;
      continue;
    }
    const dir = await tempDir(t, 'gatehouse-doc-');
    await cp(join(repoRoot, 'docs', 'examples'), dir, { recursive: true });
    // Move absolute example paths into the temp dir and create placeholders for files they name.
    const text = b.text.replaceAll('/etc/gatehouse/', `${dir}/etc/gatehouse/`).replaceAll('/var/lib/gatehouse', `${dir}/var/lib/gatehouse`);
    for (const m of text.matchAll(new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/etc/gatehouse/[^\\s'",}\\]]+`, 'g'))) {
      await mkdir(dirname(m[0]), { recursive: true });
      // A rule set file must parse, TLS files must load (check-config builds a TLS context, also
      // for TLS clients: AWS IoT's device.pem.crt / private.pem.key names), a token file hold a
      // token; their contents are not the example's subject.
      const content = /rules[^/]*\.ya?ml$/.test(m[0])
        ? 'version: 1\nrules: []\n'
        : /\.pub$/.test(m[0])
          ? (generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string)
          : /key\.pem$|\.key$/.test(m[0])
            ? FIXTURE_KEY_PEM
            : // a listener's CRL (tls.crl) must be one of its CA's (tls.ca: devices-ca.pem)
              /crl\.pem$/.test(m[0])
              ? FIXTURE_CRL_PEM
              : /devices-ca\.pem$/.test(m[0])
                ? FIXTURE_DEVICE_CA_PEM
                : /\.pem$|\.crt$/.test(m[0])
                  ? FIXTURE_CERT_PEM
                  : /\.token$/.test(m[0])
                    ? `${'0123456789abcdef'.repeat(3)}\n` // an http source's token file: 16+ characters (check-config reads it)
                    : 'placeholder\n';
      await writeFile(m[0], content);
    }
    const doc = parseYaml(text) as Record<string, unknown>;
    const where = `${b.file}:${b.line}`;
    assert.ok(doc && typeof doc === 'object', `${where}: not a YAML mapping`);
    let result: { code: number; stdout: string; stderr: string };
    if ('version' in doc && 'rules' in doc) {
      const file = join(dir, 'rules.yaml');
      await writeFile(file, text);
      result = await cli(['rules', 'check', file, ...(proto ? ['--proto-dir', protoDir!] : [])]);
    } else if ('destination' in doc) {
      const file = join(dir, 'gatehouse.json');
      await writeFile(file, JSON.stringify({ dataDir: join(dir, 'data'), exporters: [{ name: 'doc', stream: 'archive', destination: doc.destination }] }));
      result = await cli(['check-config', file]);
    } else {
      const unknown = Object.keys(doc).filter((k) => !CONFIG_KEYS.has(k));
      assert.deepEqual(unknown, [], `${where}: not a configuration, a rule set or a destination`);
      const file = join(dir, 'gatehouse.yaml');
      const protoLine = proto && doc.protoDescriptorDir === undefined ? `protoDescriptorDir: ${protoDir}\n` : '';
      await writeFile(file, (doc.dataDir === undefined ? `dataDir: ${join(dir, 'data')}\n${text}` : text) + (protoLine ? `\n${protoLine}` : ''));
      result = await cli(['check-config', file]);
    }
    assert.equal(result.code, 0, `${where} fails its check:\n${result.stderr}${result.stdout}\n--- block ---\n${b.text}`);
    assert.doesNotMatch(result.stderr, /warning/, `${where} passes with a warning:\n${result.stderr}`);
    checked++;
  }
  t.diagnostic(`${checked} YAML examples checked${skipped ? `, ${skipped} decoding Protobuf not (${skipProtoc})` : ''}`);
});

test('the README serial example decodes what `gatehouse simulate serial --framing crc --codec struct` sends', async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = /```yaml\n(gatewayId:[\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README configuration example not found');
  const config = parseYaml(block[1]!) as { serial: Array<{ codec: { type: string; fields: Array<{ name: string; type: string }> } }> };
  const { SIM_STRUCT_FIELDS } = await import('../../firmware-bridge/simulator.js');
  const fields = config.serial[0]!.codec.fields;
  assert.equal(config.serial[0]!.codec.type, 'struct');
  assert.deepEqual(
    fields.map((f) => [f.name, f.type]),
    SIM_STRUCT_FIELDS.map((f) => [f.name, f.type]),
  );
  const { createCodec } = await import('../../firmware-bridge/codecs/index.js');
  const { SerialLinkOptionsSchema } = await import('../../firmware-bridge/options.js');
  // Decode a frame laid out as the simulator sends it with the README's codec (defaults applied).
  const codec = createCodec(SerialLinkOptionsSchema.parse(config.serial[0]).codec);
  const frame = Buffer.alloc(8);
  frame.writeUInt32LE(7, 0);
  frame.writeInt16LE(2150, 4);
  frame.writeUInt16BE(4000, 6);
  const decoded = codec.decode(frame) as unknown;
  assert.ok(decoded && typeof decoded === 'object', 'decode returned nothing');
  const text = JSON.stringify(decoded);
  assert.match(text, /"seq":7/);
  assert.match(text, /"temperature":21\.5/);
  assert.match(text, /"humidity":40/);
});

test("the README's worked example blocks are the files in docs/examples they name (descriptions and dataDir aside)", async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Worked example'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]!) as Record<string, unknown>);
  const file = async (name: string) => parseYaml(await readFile(join(repoRoot, 'docs', 'examples', name), 'utf8')) as Record<string, unknown>;
  const noDescriptions = (d: Record<string, unknown>) => ({
    ...d,
    rules: (d.rules as Array<Record<string, unknown>>).map(({ description: _, ...r }) => r),
  });
  assert.deepEqual(noDescriptions(blocks[0]!), noDescriptions(await file('fleet-rules.yaml')), 'README rule set vs docs/examples/fleet-rules.yaml');
  const { dataDir: _, ...config } = await file('fleet.yaml');
  assert.deepEqual(blocks[1], config, 'README config vs docs/examples/fleet.yaml');
});

test("docs/firmware-bridge.md's pty walk-through: the gateway's end of socat's pair, with the codec `gatehouse simulate serial --framing crc --codec struct` sends", async () => {
  const doc = await readFile(join(repoRoot, 'docs', 'firmware-bridge.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Simulator'));
  assert.match(section, /socat -d -d pty,raw,echo=0,link=\/tmp\/ttyV0 pty,raw,echo=0,link=\/tmp\/ttyV1/);
  assert.match(section, /gatehouse simulate serial --port \/tmp\/ttyV0 .*--framing crc --codec struct/);
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'walk-through configuration not found');
  const link = (
    parseYaml(block[1]!) as { serial: Array<{ path: string; framing: { type: string }; codec: { fields: Array<{ name: string; type: string }> } }> }
  ).serial[0]!;
  assert.equal(link.path, '/tmp/ttyV1');
  assert.equal(link.framing.type, 'crc');
  const { SIM_STRUCT_FIELDS } = await import('../../firmware-bridge/simulator.js');
  assert.deepEqual(
    link.codec.fields.map((f) => [f.name, f.type]),
    SIM_STRUCT_FIELDS.map((f) => [f.name, f.type]),
  );
});

test("the README's drop-in for a data folder on another disk starts the unit's own command line, with only --data-dir changed", async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const unit = await readFile(join(repoRoot, 'systemd', 'gatehouse.service'), 'utf8');
  const dropIn = /```ini\n([\s\S]*?)```/.exec(readme);
  assert.ok(dropIn, 'README drop-in not found');
  const lines = dropIn[1]!.split('\n');
  assert.ok(lines.includes('ExecStart='), 'the drop-in clears ExecStart first (systemd adds to a list otherwise)');
  const exec = lines.find((l) => l.startsWith('ExecStart=/'));
  const unitExec = unit.split('\n').find((l) => l.startsWith('ExecStart=/'));
  assert.ok(exec && unitExec);
  assert.equal(exec.replace(/--data-dir \S+/, '--data-dir D'), unitExec.replace(/--data-dir \S+/, '--data-dir D'));
  const dir = /--data-dir (\S+)/.exec(exec)![1]!;
  assert.ok(lines.includes(`ReadWritePaths=${dir}`), 'the folder is writable under ProtectSystem=strict');
});
