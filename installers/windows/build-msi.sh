#!/bin/bash
# Build lantern-agent-<version>-x64.msi with wixl (Debian package `wixl`) from a Windows bundle.
#
#   installers/windows/build-msi.sh --payload DIR [--version V] [--out DIR]
#   installers/windows/build-msi.sh --placeholder [--version V] [--out DIR]
#
# --payload: the PyInstaller one-folder bundle made on a Windows runner by build-bundle.ps1
#            (lantern-agent.exe, lantern-agent-session.exe, _internal/...).
# --placeholder: a stand-in payload of small text files with the same two executable names, so the
#            MSI's structure (tables, properties, custom actions) can be built and checked on Linux.
#            Such an MSI installs, but what it installs does not run. Never ship it.
# Prints the path of the .msi as its last line.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=$REPO/dist
VERSION=""
PAYLOAD=""
PLACEHOLDER=0
while [ $# -gt 0 ]; do
	case "$1" in
	--payload) PAYLOAD=$2; shift 2 ;;
	--placeholder) PLACEHOLDER=1; shift ;;
	--version) VERSION=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done
command -v wixl >/dev/null || { echo "missing: wixl (apt-get install wixl)" >&2; exit 1; }
command -v wixl-heat >/dev/null || { echo "missing: wixl-heat (apt-get install wixl)" >&2; exit 1; }
command -v msibuild >/dev/null || { echo "missing: msibuild (apt-get install msitools)" >&2; exit 1; }

if [ -z "$VERSION" ]; then
	VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")
fi
# MSI ProductVersion: major.minor.build, numbers only (255.255.65535 at most).
if ! [[ $VERSION =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,5}$ ]]; then
	echo "version '$VERSION' is not an MSI ProductVersion (N.N.N); pass --version" >&2
	exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ "$PLACEHOLDER" = 1 ]; then
	PAYLOAD=$WORK/payload
	mkdir -p "$PAYLOAD/_internal"
	for exe in lantern-agent.exe lantern-agent-session.exe; do
		printf 'PLACEHOLDER %s %s: built without the Windows bundle; not runnable.\n' "$exe" "$VERSION" >"$PAYLOAD/$exe"
	done
	printf 'placeholder for the Python runtime and the agent\n' >"$PAYLOAD/_internal/base_library.zip"
	printf 'placeholder\n' >"$PAYLOAD/_internal/python311.dll"
fi
[ -n "$PAYLOAD" ] || { echo "give --payload DIR or --placeholder" >&2; exit 2; }
PAYLOAD=$(cd "$PAYLOAD" && pwd)
for exe in lantern-agent.exe lantern-agent-session.exe; do
	[ -f "$PAYLOAD/$exe" ] || { echo "payload has no $exe" >&2; exit 1; }
done

# Everything but the two executables (declared in lantern-agent.wxs), as one component group.
find "$PAYLOAD" -type f ! -path "$PAYLOAD/lantern-agent.exe" ! -path "$PAYLOAD/lantern-agent-session.exe" |
	LC_ALL=C sort | wixl-heat --var var.PayloadDir --directory-ref INSTALLDIR --component-group Payload \
	--win64 -p "$PAYLOAD/" >"$WORK/payload.wxs"

mkdir -p "$OUT"
MSI=$OUT/lantern-agent-$VERSION-x64.msi
# wixl ignores the Package's Platform attribute: --arch x64 is what makes a 64-bit package.
(cd "$PAYLOAD" && wixl --arch x64 -D Win64=yes -D Version="$VERSION" -D PayloadDir=. \
	-o "$MSI" "$HERE/lantern-agent.wxs" "$WORK/payload.wxs")
# Secure public properties, so a managed (elevated) install passes them to the server side. wixl has
# no Secure attribute and writes SecureCustomProperties itself, so extend its value here.
secure=$(msiinfo export "$MSI" Property | awk -F'\t' '$1 == "SecureCustomProperties" {print $2}')
msibuild "$MSI" -q "UPDATE \`Property\` SET \`Value\` = 'COLLECTOR;TOKEN;ENROL_ADDRESS${secure:+;$secure}' WHERE \`Property\` = 'SecureCustomProperties'"
echo "$MSI"
