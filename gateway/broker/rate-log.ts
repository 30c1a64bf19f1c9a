// The broker's bounded-rate log lines: the shared helper (core/rate-log.ts; rules use it too).
export { rateLimitedLog, type RateLog } from '../../core/rate-log.js';
