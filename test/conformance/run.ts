// CLI: run the ported Paho interoperability suites against any broker.
//   node dist/test/conformance/run.js --port 1883 [--host 127.0.0.1] [--suite 5|311|both] [--nosub test/nosubscribe] [--serial]
import { parseArgs } from 'node:util';
import { runSuite, summary, type Target } from './harness.js';
import { paho5Tests } from './paho5.js';
import { paho311Tests } from './paho311.js';

export async function runConformance(target: Target, suite: '5' | '311' | 'both', serial = false): Promise<{ v5?: number; v311?: number; text: string }> {
  const out: { v5?: number; v311?: number; text: string } = { text: '' };
  const parts: string[] = [];
  if (suite !== '311') {
    const r = await runSuite('ct5', paho5Tests, target, 5, serial);
    out.v5 = r.filter((o) => o.ok).length;
    parts.push(summary('Paho MQTT 5 interoperability', r));
  }
  if (suite !== '5') {
    const r = await runSuite('ct311', paho311Tests, target, 4, serial);
    out.v311 = r.filter((o) => o.ok).length;
    parts.push(summary('Paho MQTT 3.1.1 interoperability', r));
  }
  out.text = parts.join('\n');
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '1883' },
      suite: { type: 'string', default: 'both' },
      nosub: { type: 'string', default: 'test/nosubscribe' },
      serial: { type: 'boolean', default: false },
    },
  });
  const r = await runConformance(
    { host: values.host!, port: Number(values.port), noSubscribe: values.nosub! },
    values.suite as '5' | '311' | 'both',
    values.serial,
  );
  console.log(r.text);
  process.exit(0);
}
