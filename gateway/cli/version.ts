// The version a gateway reports (core/version.ts: read there, so the destinations that name it in a
// User-Agent need nothing of the CLI).
export { VERSION } from '../../core/version.js';
