// CLI: the embedded broker alone, set up as the conformance runs expect (anonymous on loopback,
// an ACL that refuses subscriptions to test/nosubscribe and allows everything else).
//   node dist/test/conformance/serve.js [port]
import pino from 'pino';
import { Registry } from 'prom-client';
import { createBroker } from '../../gateway/broker/index.js';
import { conformanceAcl } from './harness.js';

const port = Number(process.argv[2] ?? 1883);
const broker = await createBroker(
  { listeners: [{ host: '127.0.0.1', port }], allowAnonymous: true, acl: conformanceAcl },
  { logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), registry: new Registry(), onPublish: () => undefined },
);
await broker.start();
console.log(`broker on ${JSON.stringify(broker.addresses())}`);
process.on('SIGTERM', () => void broker.stop().then(() => process.exit(0)));
