// The files an snmp source names (communities and v3 passphrases: secrets kept out of the config;
// its MIB files):
// resolved against the config file's folder and checked by check-config, as an http source's
// token files (../http/files.ts). Without zod: the config loader imports it at every start.
import type { NamedFile } from '../http/files.js';

export function snmpSourceFiles(src: Record<string, unknown>): NamedFile[] {
  if (src.type !== 'snmp') return [];
  const out: NamedFile[] = [];
  const user = (u: unknown, path: string): void => {
    const holder = u as Record<string, unknown> | undefined;
    if (!holder || typeof holder !== 'object') return;
    for (const key of ['authKeyFile', 'privKeyFile'])
      if (typeof holder[key] === 'string')
        out.push({ holder, key, path: `${path}.${key}`, what: `the SNMPv3 ${key.slice(0, 4)} passphrase file of the snmp source` });
  };
  const targets = src.targets;
  if (Array.isArray(targets))
    for (const [i, t] of targets.entries()) {
      const holder = t as Record<string, unknown>;
      if (typeof holder?.communityFile === 'string')
        out.push({ holder, key: 'communityFile', path: `targets.${i}.communityFile`, what: 'the community file of the snmp source' });
      user(holder?.user, `targets.${i}.user`);
    }
  // MIB files and directories (read at start, by a child process)
  if (Array.isArray(src.mibs))
    for (const [i, m] of src.mibs.entries())
      if (typeof m === 'string')
        out.push({
          holder: src.mibs as unknown as Record<string, unknown>,
          key: String(i),
          path: `mibs.${i}`,
          what: 'the MIB file or directory of the snmp source',
        });
  const traps = src.traps as Record<string, unknown> | undefined;
  if (traps && typeof traps === 'object') {
    if (typeof traps.communityFile === 'string')
      out.push({ holder: traps, key: 'communityFile', path: 'traps.communityFile', what: 'the trap community file of the snmp source' });
    if (Array.isArray(traps.users)) for (const [i, u] of traps.users.entries()) user(u, `traps.users.${i}`);
  }
  return out;
}
