// What a file source says when a file or folder cannot be read for want of permission (EACCES):
// who the gateway runs as, the path's owner, group and mode, and the usual cure. Log files are
// often group adm (root:adm 0640: rsyslog's /var/log/syslog, many daemons' logs, folders such as
// /var/log/nginx 0750), while the systemd unit runs as gatehouse in groups gatehouse and dialout
// only: "check its permissions" left a user to find both the cause and systemd's drop-in.
import { fileAccess } from '../../../../core/file-access.js';

/** The hint for an EACCES on `path` (called once per path: the source logs it once). */
export function permissionHint(path: string): string {
  return (
    `the gateway ${fileAccess(path).text}: give that user read access (folders on the way: search). A log file of group adm: add the group to the ` +
    "systemd unit with 'sudo systemctl edit gatehouse' ([Service] SupplementaryGroups=adm), then restart it (docs/file-sources.md#permissions)"
  );
}
