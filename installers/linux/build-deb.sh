#!/bin/bash
# Build lantern-agent_<version>_amd64.deb: the agent (packages `agent` and `lantern`, never
# `collector`) with its Python dependencies vendored from wheels under /opt/lantern-agent/lib, run
# by the system python3. See docs/installers.md.
#
#   installers/linux/build-deb.sh [--version V] [--out DIR] [--python /usr/bin/python3]
#                                 [--source worktree|GIT-REF] [--requirement REQ]...
#
# --source: where the agent's code and pyproject.toml come from: the checkout as it is (default), or
# a git ref (`--source HEAD` builds what is committed, ignoring work in progress). The packaging
# files themselves always come from this checkout. --requirement adds a requirement to the
# project's dependencies (a security pin such as 'grpcio>=1.86.1', or one not yet in pyproject).
#
# Environment: LANTERN_WHEEL_CACHE (default /var/tmp/lantern-wheels) keeps the wheels between builds;
# a rebuild first tries them offline and only goes to the package index when something is missing.
# Prints the path of the .deb as its last line.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PYTHON=/usr/bin/python3
OUT=$REPO/dist
VERSION=""
SOURCE=worktree
EXTRA_REQS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--version) VERSION=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--python) PYTHON=$2; shift 2 ;;
	--source) SOURCE=$2; shift 2 ;;
	--requirement) EXTRA_REQS+=("$2"); shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done

for tool in dpkg-deb "$PYTHON"; do
	command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ "$SOURCE" = worktree ]; then
	SRC=$REPO
else
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$REPO" archive "$SOURCE" pyproject.toml agent lantern | tar -x -C "$SRC"
fi

# Version and dependencies come from pyproject.toml, so the package never drifts from the project.
read -r PYVER PROJECT_VERSION < <("$PYTHON" - "$SRC/pyproject.toml" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print(f"{sys.version_info[0]}.{sys.version_info[1]}", project["version"])
EOF
)
mapfile -t DEPS < <("$PYTHON" - "$SRC/pyproject.toml" <<'EOF'
import sys, tomllib
for dep in tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]:
    print(dep)
EOF
)
DEPS+=("${EXTRA_REQS[@]}")
VERSION=${VERSION:-$PROJECT_VERSION}
PYNEXT=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')
PYTAG=cp${PYVER/./}
WHEELS=${LANTERN_WHEEL_CACHE:-/var/tmp/lantern-wheels}/$PYTAG-$(uname -m)

STAGE=$WORK/root
PREFIX=/opt/lantern-agent
LIB=$STAGE$PREFIX/lib
DOC=$STAGE/usr/share/doc/lantern-agent

echo "building lantern-agent $VERSION for python $PYVER from $SOURCE" >&2

# 1. Wheels for the runtime dependencies, built or downloaded by pip in a throwaway venv made from
#    the target python (wheels are tied to its minor version). evdev (pynput's) has no wheel on
#    PyPI and is compiled here; everything else is a manylinux wheel.
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip --disable-pip-version-check -q)
mkdir -p "$WHEELS"
# --no-cache-dir: never reuse a wheel pip compiled earlier for some other python (its RUNPATH and
# ABI would be that python's).
if ! "${PIP[@]}" wheel --no-cache-dir --no-index --find-links "$WHEELS" --wheel-dir "$WHEELS" \
	"${DEPS[@]}" 2>/dev/null; then
	"${PIP[@]}" wheel --no-cache-dir --find-links "$WHEELS" --wheel-dir "$WHEELS" "${DEPS[@]}"
fi

# 2. Vendored site-packages from those wheels, nothing from the network.
"${PIP[@]}" install --no-index --find-links "$WHEELS" --no-compile --target "$LIB" "${DEPS[@]}"
rm -rf "$LIB/bin"
find "$LIB" -type f -exec chmod 0644 {} +
find "$LIB" -name '*.so' -exec strip --strip-unneeded {} +
find "$LIB" -type d -name __pycache__ -prune -exec rm -rf {} +

# 3. The agent's own packages (never `collector`) and the session launcher.
for pkg in agent lantern; do
	(cd "$SRC" && find "$pkg" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0) |
		(cd "$SRC" && xargs -0 cp --parents -t "$LIB")
done
cp "$REPO/installers/common/lantern_session.py" "$LIB/"
if [ -e "$LIB/collector" ]; then echo "collector must not be in the agent package" >&2; exit 1; fi

# 4. Launchers: the system python in isolated mode (-I: no user site, no PYTHON* variables; -S:
#    not even the distribution's dist-packages), with only the vendored site-packages added.
mkdir -p "$STAGE$PREFIX/bin" "$STAGE/usr/bin"
launcher() { # name module:function
	cat >"$STAGE$PREFIX/bin/$1" <<EOF
#!/usr/bin/python3 -IS
"""$1, as installed by the lantern-agent package."""
import site
import sys

site.addsitedir("$PREFIX/lib")
from ${2%%:*} import ${2##*:}

sys.exit(${2##*:}())
EOF
	chmod 0755 "$STAGE$PREFIX/bin/$1"
	ln -s "$PREFIX/bin/$1" "$STAGE/usr/bin/$1"
}
launcher lantern-agent agent.cli:main
launcher lantern-agent-session lantern_session:main

# 5. Session start-up: systemd user unit (enabled globally by postinst) and XDG autostart fallback.
install -D -m 0644 "$HERE/files/lantern-agent.service" "$STAGE/usr/lib/systemd/user/lantern-agent.service"
install -D -m 0644 "$HERE/files/lantern-agent.desktop" "$STAGE/etc/xdg/autostart/lantern-agent.desktop"

# 6. Documentation, man page, lintian overrides.
install -D -m 0644 "$HERE/files/copyright" "$DOC/copyright"
install -D -m 0644 "$HERE/files/README" "$DOC/README"
printf 'lantern-agent (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- Lantern Safeguarding <packaging@lantern.example.org>  %s\n' \
	"$VERSION" "$VERSION" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n >"$DOC/changelog.gz"
mkdir -p "$STAGE/usr/share/man/man1"
gzip -9n <"$HERE/files/lantern-agent.1" >"$STAGE/usr/share/man/man1/lantern-agent.1.gz"
ln -s lantern-agent.1.gz "$STAGE/usr/share/man/man1/lantern-agent-session.1.gz"
install -D -m 0644 "$HERE/files/lintian-overrides" "$STAGE/usr/share/lintian/overrides/lantern-agent"

# 7. Control area.
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -type f ! -perm -u+x -exec chmod 0644 {} +
find "$STAGE" -type f -perm -u+x -exec chmod 0755 {} +
mkdir -p "$STAGE/DEBIAN"
sed -e "s/@VERSION@/$VERSION/" \
	-e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)/" \
	-e "s/@PYTHON_DEPENDS@/python3 (>= $PYVER~), python3 (<< $PYNEXT~)/" \
	"$HERE/debian/control.in" >"$STAGE/DEBIAN/control"
for f in config postinst prerm postrm; do install -m 0755 "$HERE/debian/$f" "$STAGE/DEBIAN/$f"; done
install -m 0644 "$HERE/debian/templates" "$STAGE/DEBIAN/templates"
echo /etc/xdg/autostart/lantern-agent.desktop >"$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
	xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB=$OUT/lantern-agent_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >&2
echo "$DEB"
