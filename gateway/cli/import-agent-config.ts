// `gatehouse import-agent-config agent.json [--out gatehouse.yaml]`: convert a Kinesis Agent
// configuration into a Gatehouse configuration, printing what could not be carried over.
import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { ERRORS, GatehouseError, fileErrorReason } from '../../core/errors.js';
import { convertAgentConfig } from './agent-config.js';
import { parseCliArgs, writeLine, type CliIO } from './io.js';

const USAGE = 'gatehouse import-agent-config AGENT.json [--out gatehouse.yaml]';

export async function runImportAgentConfig(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCliArgs(argv, { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } }, USAGE, true);
  if (values.help) {
    writeLine(
      io.stdout,
      `usage: ${USAGE}\nConverts a Kinesis Agent agent.json (flows: filePattern, kinesisStream/deliveryStream, partitionKeyOption, buffer and data processing options) into a Gatehouse config: file sources, streams, rules, exporters. Settings that could not be mapped are listed on stderr. Check the result with 'gatehouse check-config'.`,
    );
    return 0;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new GatehouseError('GH_ARG_INVALID', 'expected exactly one AGENT.json', { hint: `usage: ${USAGE}` });
  const unreadable = (reason: string, cause: unknown): Error =>
    ERRORS.GH_CONFIG_READ(
      { what: 'Kinesis Agent configuration', file, reason },
      { where: file, hint: 'pass the Kinesis Agent configuration, usually /etc/aws-kinesis/agent.json', cause },
    );
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw unreadable(fileErrorReason(err), err);
  });
  let agent: unknown;
  try {
    agent = JSON.parse(text);
  } catch (err) {
    throw unreadable(`not JSON: ${(err as Error).message}`, err);
  }
  let result: ReturnType<typeof convertAgentConfig>;
  try {
    result = convertAgentConfig(agent);
  } catch (err) {
    throw new GatehouseError('GH_CONFIG_INVALID', (err as Error).message, { where: file, hint: 'a Kinesis Agent configuration has a "flows" array' });
  }
  const yamlText = `# Converted from ${file} by gatehouse import-agent-config\n${stringify(result.config, { lineWidth: 0 })}`;
  if (values.out) {
    await writeFile(values.out, yamlText);
    writeLine(
      io.stderr,
      `wrote ${values.out}: ${(result.config.sources as unknown[]).length} file source(s), ${(result.config.exporters as unknown[]).length} exporter(s)`,
    );
  } else io.stdout.write(yamlText);
  if (result.unmapped.length > 0) {
    writeLine(io.stderr, `not carried over (${result.unmapped.length}):`);
    for (const line of result.unmapped) writeLine(io.stderr, `  - ${line}`);
  }
  return 0;
}
