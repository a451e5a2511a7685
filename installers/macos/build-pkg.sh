#!/bin/bash
# Build lantern-agent-<version>.pkg on a Mac (Python 3.11 and Xcode command line tools):
#
#   installers/macos/build-pkg.sh [--version V] [--out DIR] [--python python3.11]
#
# Environment (optional): LANTERN_CODESIGN_IDENTITY ("Developer ID Application: ... (TEAMID)") signs
# the app; LANTERN_INSTALLER_IDENTITY ("Developer ID Installer: ...") signs the pkg; then notarise
# with `xcrun notarytool submit --wait` and `xcrun stapler staple` (docs/installers.md).
#
# Payload (pkgbuild --root, install location /):
#   /Library/Application Support/Lantern/Lantern Agent.app   the agent (PyInstaller, bundle id
#                                                            uk.ac.lantern.agent)
#   /Library/LaunchAgents/uk.ac.lantern.agent.plist           starts it in every GUI login
#   /usr/local/bin/lantern-agent                              the CLI (`lantern-agent status`)
# Scripts: preinstall (stop the running agent on upgrade), postinstall (ownership, configuration,
# start for logged-in users). uninstall.sh is shipped beside the pkg, not in it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PYTHON=python3.11
OUT=$REPO/dist
VERSION=""
while [ $# -gt 0 ]; do
	case "$1" in
	--version) VERSION=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--python) PYTHON=$2; shift 2 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
[ "$(uname -s)" = Darwin ] || { echo "build-pkg.sh runs on macOS (pkgbuild)" >&2; exit 1; }
VERSION=${VERSION:-$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --upgrade pip
"$WORK/venv/bin/python" -m pip install -q "$REPO" "pyinstaller==6.11.1"
(cd "$REPO" && LANTERN_VERSION="$VERSION" "$WORK/venv/bin/python" -m PyInstaller --noconfirm --clean \
	--distpath "$WORK/dist" --workpath "$WORK/build" "$HERE/lantern-agent-macos.spec")

ROOT=$WORK/root
mkdir -p "$ROOT/Library/Application Support/Lantern" "$ROOT/Library/LaunchAgents" "$ROOT/usr/local/bin"
ditto "$WORK/dist/Lantern Agent.app" "$ROOT/Library/Application Support/Lantern/Lantern Agent.app"
install -m 0644 "$HERE/uk.ac.lantern.agent.plist" "$ROOT/Library/LaunchAgents/uk.ac.lantern.agent.plist"
install -m 0755 "$HERE/lantern-agent-cli.sh" "$ROOT/usr/local/bin/lantern-agent"
plutil -lint "$ROOT/Library/LaunchAgents/uk.ac.lantern.agent.plist"

# Smoke test: the frozen agent answers and is not enrolled in a scratch state directory.
"$ROOT/Library/Application Support/Lantern/Lantern Agent.app/Contents/MacOS/lantern-agent-session" --agent --help >/dev/null

mkdir -p "$OUT"
PKG=$OUT/lantern-agent-$VERSION.pkg
sign=()
[ -z "${LANTERN_INSTALLER_IDENTITY:-}" ] || sign=(--sign "$LANTERN_INSTALLER_IDENTITY")
pkgbuild --root "$ROOT" --scripts "$HERE/scripts" --identifier uk.ac.lantern.agent \
	--version "$VERSION" --install-location / --ownership recommended "${sign[@]}" "$PKG"
echo "$PKG"
