#!/usr/bin/env bash
# The file system systemd/gatehouse.service gives the gateway, emulated on a machine without systemd
# as PID 1 (test/helpers/unit-sandbox.ts runs it; docs/security.md "As the unit runs it").
# Run as root, under `unshare --mount --propagation private`:
#
#   unit-sandbox.sh STAGE WORK MODULES CMD...
#
# STAGE is a root staged by `DESTDIR=STAGE systemd/install.sh --no-modules`, MODULES the
# node_modules folder to put at /opt/gatehouse/node_modules; WORK a scratch folder of the
# caller (the overlays' upper layers: what the sandbox adds to /etc, /var, /usr/local and /opt
# stays there, never on the host). In this mount namespace only:
#   - /etc, /var, /usr/local and /opt are overlays of the host's folders, where the staged
#     /etc/gatehouse, /var/lib/gatehouse and /opt/gatehouse are bound, /usr/local/bin/gatehouse
#     is the installer's link, and the users `gatehouse` (in dialout, home /var/lib/gatehouse, as
#     install.sh makes it) and two operators, `pi` (the login user of Raspberry Pi OS) and `ops`
#     (the same, added to group gatehouse), are added;
#   - the installer's ownership steps it skips under DESTDIR are made (state dir gatehouse:gatehouse,
#     config folder and file group gatehouse);
#   - /tmp and /var/tmp are empty tmpfs (PrivateTmp=yes), /home and /root empty (ProtectHome=yes;
#     systemd makes them inaccessible, here they are empty and /home/pi, /home/ops are the operators');
#   - every mount is then read-only (ProtectSystem=strict) except /var/lib/gatehouse
#     (ReadWritePaths), /tmp, /var/tmp and the API file systems /proc, /sys, /dev.
# Then CMD runs (as root: the caller drops to the unit's user with setpriv, see unit-sandbox.ts).
# DevicePolicy=closed and DeviceAllow= are a devices cgroup the caller puts CMD in (cgroup v1).
# Not emulated: seccomp (SystemCallArchitectures, RestrictAddressFamilies: the caller traces
# socket() with strace instead), ProtectKernel*, ProtectClock, RestrictNamespaces, the journal
# (stdout is a pipe).
set -euo pipefail
stage=$1
work=$2
modules=$3
shift 3
[ "$(id -u)" = 0 ] || { echo "unit-sandbox.sh: run as root" >&2; exit 2; }

# 1. overlays where the staged folders are bound (their mount points exist only in the overlay)
for top in etc var usr/local opt; do
  name=${top//\//-}
  mkdir -p "$work/up-$name" "$work/wk-$name"
  mount -t overlay "sandbox-$name" -o "lowerdir=/$top,upperdir=$work/up-$name,workdir=$work/wk-$name" "/$top"
done
mkdir -p /etc/gatehouse /var/lib/gatehouse /opt/gatehouse /usr/local/bin
mount --bind "$stage/etc/gatehouse" /etc/gatehouse
mount --bind "$stage/var/lib/gatehouse" /var/lib/gatehouse
# SANDBOX_DATA=overlay-ram: the data dir as Raspberry Pi OS's overlay file system leaves it, an
# overlay of the staged folder whose writes go to a tmpfs (RAM)
if [ "${SANDBOX_DATA:-}" = overlay-ram ]; then
  mkdir -p "$work/ram"
  mount -t tmpfs sandbox-ram "$work/ram"
  mkdir "$work/ram/up" "$work/ram/wk"
  mount -t overlay sandbox-data -o "lowerdir=$stage/var/lib/gatehouse,upperdir=$work/ram/up,workdir=$work/ram/wk" /var/lib/gatehouse
fi
mount --bind "$stage/opt/gatehouse" /opt/gatehouse
# MODULES: the checkout's node_modules (install.sh --no-modules stages none), read-only at
# /opt/gatehouse/node_modules where install.sh copies them
mkdir -p /opt/gatehouse/node_modules
mount --bind "$modules" /opt/gatehouse/node_modules
# The caller's way out (strace's output, written by root): WORK/out at /var/unit-sandbox, not the unit's
mkdir -p "$work/out" /var/unit-sandbox
mount --bind "$work/out" /var/unit-sandbox
[ -L /usr/local/bin/gatehouse ] || ln -s /opt/gatehouse/bin/gatehouse.js /usr/local/bin/gatehouse

# SANDBOX_INSTALL=install.sh: the installer run for real (no DESTDIR) over the staged folders,
# as `sudo systemd/install.sh --no-modules` on a gateway: its user, ownership, unit and config check
# (WORK/out/install.log). modprobe is /bin/true here: no driver is loaded into the host's kernel.
if [ -n "${SANDBOX_INSTALL:-}" ]; then
  probe=$(command -v modprobe || true)
  [ -n "$probe" ] && mount --bind /bin/true "$probe"
  bash "$SANDBOX_INSTALL" --no-modules >"$work/out/install.log" 2>&1 || echo "install.sh exited $?" >>"$work/out/install.log"
fi

# 2. users (in the overlay's /etc/passwd: nothing to remove from the host afterwards)
if ! getent passwd gatehouse >/dev/null; then
  # install.sh's own useradd line, and its dialout membership
  useradd --system --home-dir /var/lib/gatehouse --no-create-home --shell /usr/sbin/nologin --user-group gatehouse
  if getent group dialout >/dev/null; then usermod -a -G dialout gatehouse; fi
fi
for op in pi ops; do
  getent passwd "$op" >/dev/null || useradd --home-dir "/home/$op" --no-create-home --shell /bin/bash --user-group "$op"
done
usermod -a -G gatehouse ops
# install.sh's chown/chgrp, skipped under DESTDIR
chown gatehouse:gatehouse /var/lib/gatehouse
chgrp gatehouse /etc/gatehouse
[ -f /etc/gatehouse/gatehouse.yaml ] && chgrp gatehouse /etc/gatehouse/gatehouse.yaml

# 3. PrivateTmp, ProtectHome. This namespace's copies of the host's mounts under them (another
#    program's scratch file systems) are let go first: kept, they would hold those busy. One may
#    be gone by its turn (a test running alongside unmounted it and removed its folder since the
#    listing: the kernel then detaches the copy here too; umount says "no mount point specified").
findmnt -rn -o TARGET | { grep -E '^/(tmp|var/tmp|home|root)/' || true; } | sort -r | while read -r target; do
  path="$(printf '%b' "$target")"
  umount -l "$path" 2>/dev/null || ! mountpoint -q "$path" || umount -l "$path"
done
mount -t tmpfs -o mode=1777 sandbox-tmp /tmp
mount -t tmpfs -o mode=1777 sandbox-vartmp /var/tmp
mount -t tmpfs -o mode=0755 sandbox-home /home
mount -t tmpfs -o mode=0700 sandbox-root /root
for op in pi ops; do install -d -o "$op" -g "$op" -m 0750 "/home/$op"; done

# 4. ProtectSystem=strict: every mount read-only but the writable ones (already read-only ones,
#    such as the machine's own, are left alone)
findmnt -rn -o TARGET,OPTIONS | while read -r target options; do
  case "$target" in
    /var/lib/gatehouse | /var/unit-sandbox | /tmp | /var/tmp | /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) continue ;;
  esac
  case ",$options," in *,ro,*) continue ;; esac
  # findmnt -r escapes spaces as \x20
  mount -o remount,bind,ro "$(printf '%b' "$target")"
done

exec "$@"
