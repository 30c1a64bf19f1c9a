// An admin source with nothing to report: for tests of the admin server itself (listening, TLS,
// stops), not of what it serves.
import type { AdminSource } from '../../gateway/admin/server.js';

export const emptyAdminSource: AdminSource = {
  health: () => ({ ok: true }),
  streams: () => [],
  streamNames: () => [],
  readRecords: async () => [],
  rules: () => ({ state: 'none' }),
  clients: () => [],
  links: () => [],
};
