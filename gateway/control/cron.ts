// node-cron, loaded with the first scheduled job (or the first cron expression to check): a gateway
// without `jobs:` never loads it.
import { lazyPackage } from '../../core/lazy-package.js';

export const nodeCron = lazyPackage<typeof import('node-cron')>('node-cron', 'scheduled jobs (jobs:)');
