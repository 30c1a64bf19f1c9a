#!/usr/bin/env bash
# Install (or uninstall) Gatehouse as a systemd service. Idempotent: running it twice changes nothing
# the second time. Prints what it does.
#
#   sudo systemd/install.sh                 # install from this checkout (built: npm ci && npm run build)
#   sudo systemd/install.sh --uninstall     # remove unit, program and user; keep config and data
#   sudo systemd/install.sh --uninstall --purge   # also remove /etc/gatehouse and /var/lib/gatehouse
#   DESTDIR=/tmp/root systemd/install.sh    # stage into a directory (no user, no systemctl): for packaging and tests
#   systemd/install.sh --no-modules         # program files only (dependencies installed separately)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
destdir=${DESTDIR:-}
mode=install
purge=no
modules=yes
for arg in "$@"; do
  case "$arg" in
    --uninstall) mode=uninstall ;;
    --purge) purge=yes ;;
    --no-modules) modules=no ;;
    # The comment block at the top, up to the first line of code.
    --help|-h) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

prefix="$destdir/opt/gatehouse"
etc="$destdir/etc/gatehouse"
state="$destdir/var/lib/gatehouse"
unit="$destdir/etc/systemd/system/gatehouse.service"
modules_conf="$destdir/etc/modules-load.d/gatehouse.conf"
command_link="$destdir/usr/local/bin/gatehouse"
user=gatehouse

say() { printf 'gatehouse-install: %s\n' "$*"; }
have_systemctl() { [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

if [ "$mode" = uninstall ]; then
  if have_systemctl; then
    systemctl disable --now gatehouse.service 2>/dev/null && say "stopped and disabled gatehouse.service" || true
  fi
  [ -f "$unit" ] && rm -f "$unit" && say "removed $unit"
  [ -f "$modules_conf" ] && rm -f "$modules_conf" && say "removed $modules_conf"
  have_systemctl && systemctl daemon-reload || true
  [ -d "$prefix" ] && rm -rf "$prefix" && say "removed $prefix"
  if [ -L "$command_link" ] && [ "$(readlink "$command_link")" = /opt/gatehouse/bin/gatehouse.js ]; then
    rm -f "$command_link" && say "removed $command_link"
  fi
  if [ "$purge" = yes ]; then
    [ -d "$etc" ] && rm -rf "$etc" && say "removed $etc (--purge)"
    [ -d "$state" ] && rm -rf "$state" && say "removed $state (--purge)"
  else
    say "kept $etc and $state (use --purge to remove them)"
  fi
  if [ -z "$destdir" ] && id "$user" >/dev/null 2>&1; then
    userdel "$user" && say "removed user $user"
  fi
  exit 0
fi

[ -f "$src/dist/gateway/cli/main.js" ] || { echo "install.sh: $src is not built: run 'npm ci && npm run build' first" >&2; exit 1; }

# 1. user, in dialout for serial ports
if [ -z "$destdir" ]; then
  if id "$user" >/dev/null 2>&1; then
    say "user $user exists"
  else
    useradd --system --home-dir /var/lib/gatehouse --no-create-home --shell /usr/sbin/nologin --user-group "$user"
    say "created system user $user"
  fi
  if getent group dialout >/dev/null; then usermod -a -G dialout "$user"; say "user $user is in group dialout"; fi
else
  say "DESTDIR set: skipping user creation"
fi

# 2. folders
install -d -m 0755 "$prefix" "$etc" "$(dirname "$unit")"
install -d -m 0750 "$state"
[ -z "$destdir" ] && chown "$user:$user" "$state" && chgrp "$user" "$etc"
say "folders: $prefix $etc $state"

# 3. program (built JS + production dependencies)
# (gateway/admin/page: the status page's files, found next to package.json at run time.)
for part in bin dist gateway/admin/page package.json package-lock.json README.md; do
  [ -e "$src/$part" ] || continue
  rm -rf "${prefix:?}/$part"
  mkdir -p "$(dirname "$prefix/$part")"
  cp -R "$src/$part" "$prefix/$part"
done
# The compiled tests and benches (over half of dist) are never run from an installation: an SD card keeps them for nothing.
rm -rf "${prefix:?}/dist/test"
if [ "$modules" = yes ] && [ -d "$src/node_modules" ]; then
  rm -rf "$prefix/node_modules"
  # Copy the contents ("/."), so a node_modules that is a symlink becomes a real folder here and
  # the prune below can never reach into the source checkout through it.
  mkdir -p "$prefix/node_modules"
  cp -R "$src/node_modules/." "$prefix/node_modules/"
  # Dev-only packages are not needed at run time.
  (cd "$prefix" && npm prune --omit=dev --no-audit --no-fund >/dev/null 2>&1) || true
fi
say "installed program into $prefix"
# The command on PATH (the docs and the messages below say `gatehouse check-config ...`); a
# `gatehouse` there that is not ours (another install) is left alone.
install -d -m 0755 "$(dirname "$command_link")"
if [ -L "$command_link" ] && [ "$(readlink "$command_link")" = /opt/gatehouse/bin/gatehouse.js ]; then
  say "$command_link is up to date"
elif [ -e "$command_link" ] || [ -L "$command_link" ]; then
  say "kept $command_link (not a link to /opt/gatehouse/bin/gatehouse.js): run /opt/gatehouse/bin/gatehouse.js"
else
  ln -s /opt/gatehouse/bin/gatehouse.js "$command_link"
  say "linked $command_link -> /opt/gatehouse/bin/gatehouse.js"
fi

# 4. starter config (never overwritten)
if [ -f "$etc/gatehouse.yaml" ]; then
  say "kept existing $etc/gatehouse.yaml"
else
  install -m 0640 "$here/gatehouse.example.yaml" "$etc/gatehouse.yaml"
  [ -z "$destdir" ] && chgrp "$user" "$etc/gatehouse.yaml"
  say "wrote starter config $etc/gatehouse.yaml"
fi

# 5. serial drivers loaded at boot: the unit's DeviceAllow=char-ttyUSB/char-ttyACM only take effect
#    for groups in /proc/devices when it starts (gatehouse-modules.conf says why)
install -d -m 0755 "$(dirname "$modules_conf")"
if [ -f "$modules_conf" ] && cmp -s "$here/gatehouse-modules.conf" "$modules_conf"; then
  say "$modules_conf is up to date"
else
  install -m 0644 "$here/gatehouse-modules.conf" "$modules_conf"
  say "installed $modules_conf (usbserial, cdc_acm loaded at boot)"
fi
if [ -z "$destdir" ] && command -v modprobe >/dev/null 2>&1; then
  modprobe -aq usbserial cdc_acm 2>/dev/null && say "loaded usbserial, cdc_acm" || say "could not load usbserial, cdc_acm now (they load at the next boot)"
fi

# 6. unit
if [ -f "$unit" ] && cmp -s "$here/gatehouse.service" "$unit"; then
  say "unit $unit is up to date"
else
  install -m 0644 "$here/gatehouse.service" "$unit"
  say "installed unit $unit"
fi
if command -v systemd-analyze >/dev/null 2>&1 && [ -z "$destdir" ]; then
  systemd-analyze verify "$unit" && say "systemd-analyze verify: ok"
fi

# 7. the config, checked by the version being installed: a key an older version took may be refused
#    now, and the unit would then fail at its next start (exit 78, not restarted) instead of running
#    Checked as the unit's user (installed, not DESTDIR): it reads the config and every file the
#    config names (TLS keys, rule files) as the gateway will; run by root it passed a key only root
#    could read, and the start then failed. The installed copy is run when it has its modules (the
#    checkout may be in a home folder that user cannot read), from / for the same reason.
config_ok=yes
check_as=()
check_prog="$src/bin/gatehouse.js"
check_who=""
if [ -z "$destdir" ] && id "$user" >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
  if [ -d "$prefix/node_modules" ]; then check_prog="$prefix/bin/gatehouse.js"; fi
  # a program that user cannot read (a checkout in a home folder, --no-modules) is run by root
  if runuser -u "$user" -- test -r "$check_prog"; then
    check_as=(runuser -u "$user" --)
    check_who=" as $user"
  fi
fi
if ! command -v node >/dev/null 2>&1; then
  say "node not found on PATH: config not checked (run 'sudo -u $user gatehouse check-config $etc/gatehouse.yaml --data-dir $state')"
elif check_out=$(cd / && ${check_as[@]+"${check_as[@]}"} node "$check_prog" check-config "$etc/gatehouse.yaml" --data-dir "$state" 2>&1); then
  say "check-config $etc/gatehouse.yaml --data-dir $state$check_who: ok"
else
  config_ok=no
  say "WARNING: $etc/gatehouse.yaml does not pass check-config with this version; the gateway will not start with it:"
  printf '%s\n' "$check_out" | sed 's/^/    /'
fi

if have_systemctl; then
  systemctl daemon-reload
  if [ "$config_ok" = no ]; then
    systemctl enable gatehouse.service
    say "enabled gatehouse.service, not started: fix $etc/gatehouse.yaml (above), then 'systemctl restart gatehouse'"
  elif systemctl is-active --quiet gatehouse.service; then
    systemctl enable gatehouse.service
    say "gatehouse.service keeps running the version it started with: 'systemctl restart gatehouse' runs this one"
  else
    systemctl enable --now gatehouse.service
    say "enabled and started gatehouse.service (systemctl status gatehouse; journalctl -u gatehouse -f)"
  fi
else
  say "systemd not running here: start it later with 'systemctl enable --now gatehouse'"
fi
