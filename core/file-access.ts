// Who the process runs as and who owns a path, in words, for a permission error (EACCES): the
// systemd unit runs as gatehouse (groups gatehouse, dialout), the config is root:gatehouse 0640,
// an operator is neither; "check the file permissions" left each of them to find out which.
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
    // no names then: the numbers are shown
  }
  return out;
}

export interface FileAccess {
  /** The user this process runs as (name, else uid N). */
  user: string;
  /** e.g. "runs as gatehouse (groups gatehouse, dialout); /var/log/app.log is root:adm, mode 0640" */
  text: string;
  /** The path's group name (undefined: it could not be looked at). */
  group?: string;
}

/** Called once per error (it reads /etc/passwd and /etc/group). */
export function fileAccess(path: string): FileAccess {
  const users = names('/etc/passwd');
  const groups = names('/etc/group');
  const uid = process.getuid?.() ?? -1;
  const gids = [...new Set([process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])])];
  const user = users.get(uid) ?? `uid ${uid}`;
  const runs = `runs as ${user} (groups ${gids.map((g) => groups.get(g) ?? String(g)).join(', ')})`;
  try {
    const st = statSync(path);
    const group = groups.get(st.gid) ?? String(st.gid);
    return { user, group, text: `${runs}; ${path} is ${users.get(st.uid) ?? st.uid}:${group}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}` };
  } catch {
    // a folder on the way may hide it: the owner is left out
    return { user, text: runs };
  }
}
