// What a file source says when a file or folder cannot be read for want of permission (EACCES):
// who the gateway runs as, the path's owner, group and mode, and the usual cure. Log files are
// often group adm (root:adm 0640: rsyslog's /var/log/syslog, many daemons' logs, folders such as
// /var/log/nginx 0750), while the systemd unit runs as gatehouse in groups gatehouse and dialout
// only: "check its permissions" left a user to find both the cause and systemd's drop-in.
import { readFileSync, statSync } from 'node:fs';

/** id -> name from an /etc/passwd or /etc/group style file; empty when it cannot be read. */
function names(file: string): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id) out.set(Number(id), name);
    }
  } catch {
    // no name then: the number is shown
  }
  return out;
}

/** The hint for an EACCES on `path` (called once per path: the source logs it once). */
export function permissionHint(path: string): string {
  const users = names('/etc/passwd');
  const groups = names('/etc/group');
  const uid = process.getuid?.() ?? -1;
  const gids = [...new Set([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])])];
  const runs = `the gateway runs as ${users.get(uid) ?? `uid ${uid}`} (groups ${gids.map((g) => groups.get(g) ?? String(g)).join(', ')})`;
  let owner = '';
  try {
    const st = statSync(path);
    owner = `; ${path} is ${users.get(st.uid) ?? st.uid}:${groups.get(st.gid) ?? st.gid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch {
    // a folder on the way may hide it: the owner is left out
  }
  return (
    `${runs}${owner}: give that user read access (folders on the way: search). A log file of group adm: add the group to the ` +
    "systemd unit with 'sudo systemctl edit gatehouse' ([Service] SupplementaryGroups=adm), then restart it (docs/file-sources.md#permissions)"
  );
}
