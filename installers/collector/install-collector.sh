#!/bin/bash
# Install the Lantern collector as a systemd service on a Debian 12 server (run as root):
#
#   installers/collector/install-collector.sh [--source DIR-OR-WHEEL] [--wheels DIR] [--no-start]
#
# --wheels DIR installs offline from a wheelhouse (made elsewhere with
# `pip wheel '.[collector]' -w DIR` by the same Python version), for servers without internet.
#
# - /opt/lantern-collector/venv: the collector and its dependencies (pip, from --source: this
#   checkout by default, or a built wheel), with the system python3;
# - the `lantern` system user (sysusers.d), /etc/lantern/collector.env (kept if present),
#   /etc/systemd/system/lantern-collector.service, /usr/local/sbin/lantern-collector-admin;
# - enables and starts the service unless --no-start. Re-running it upgrades in place.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
START=1
WHEELS=""
while [ $# -gt 0 ]; do
	case "$1" in
	--source) SOURCE=$2; shift 2 ;;
	--wheels) WHEELS=$2; shift 2 ;;
	--no-start) START=0; shift ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

PREFIX=/opt/lantern-collector
python3 -m venv "$PREFIX/venv"
if [ -n "$WHEELS" ]; then
	"$PREFIX/venv/bin/python" -m pip install -q --no-index --find-links "$WHEELS" "$SOURCE[collector]"
else
	"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
	"$PREFIX/venv/bin/python" -m pip install -q "$SOURCE[collector]"
fi
install -D -m 0644 "$HERE/../../docs/deploy.md" "$PREFIX/docs/deploy.md" 2>/dev/null || true

install -D -m 0644 "$HERE/lantern-collector.sysusers" /usr/lib/sysusers.d/lantern-collector.conf
if command -v systemd-sysusers >/dev/null; then
	systemd-sysusers lantern-collector.conf
elif ! getent passwd lantern >/dev/null; then
	useradd --system --home-dir /var/lib/lantern --shell /usr/sbin/nologin --user-group lantern
fi

install -d -m 0755 /etc/lantern
if [ ! -e /etc/lantern/collector.env ]; then
	install -m 0640 -g lantern "$HERE/collector.env" /etc/lantern/collector.env
fi
install -m 0755 "$HERE/lantern-collector-admin" /usr/local/sbin/lantern-collector-admin
install -m 0644 "$HERE/lantern-collector.service" /etc/systemd/system/lantern-collector.service
install -d -m 0750 -o lantern -g lantern /var/lib/lantern

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable lantern-collector.service
	if [ "$START" = 1 ]; then systemctl restart lantern-collector.service; fi
fi
echo "installed; edit /etc/lantern/collector.env, then: systemctl restart lantern-collector"
