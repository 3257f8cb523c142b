#!/usr/bin/env bash
# Set up everything Datayard needs on Debian 12 / Python 3.11, then start the
# app or run the tests. Idempotent: a second run only checks and starts.
#
#   ./bootstrap.sh app     set up, then start Datayard on the embedded object store
#   ./bootstrap.sh test    set up, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: $0 app|test [extra arguments for the app or pytest]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift
case "$mode" in app|test) ;; *) usage ;; esac

# Qt's runtime libraries and fonts (offscreen and xcb), the Secret Service that
# keeps credentials, and what the tests drive: Xvfb, xdotool, a private sshd in a
# network namespace of its own (iproute2), and systemd-analyze, which verifies the
# archive's timer units (systemd).
APT_APP=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
         libglib2.0-0 fonts-dejavu-core libx11-xcb1 libxcb-cursor0 libxcb-icccm4
         libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
         libxcb-randr0 libxcb-xfixes0 libxcb-xkb1 gnome-keyring libsecret-tools dbus)
APT_TEST=(xvfb xauth xdotool openssh-server iproute2 systemd)

want=("${APT_APP[@]}")
[ "$mode" = test ] && want+=("${APT_TEST[@]}")

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if command -v dpkg-query >/dev/null; then
    mapfile -t missing < <(missing_packages "${want[@]}")
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "Installing Debian packages: ${missing[*]}"
            apt_install "${missing[@]}"
        else
            echo "Datayard needs these Debian packages, which are not installed:" >&2
            echo "    sudo apt-get install --no-install-recommends ${missing[*]}" >&2
            echo "Run that command (or run this script as root), then run $0 $mode again." >&2
            exit 1
        fi
    fi
fi

# Python 3.11 or newer, in a virtual environment beside the sources.
python=""
for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] || { echo "Datayard needs Python 3.11 or newer; none was found on PATH." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt_install python3-venv
            "$python" -m venv .venv
        else
            echo "Creating a virtual environment failed: install python3-venv (sudo apt-get install python3-venv)." >&2
            exit 1
        fi
    fi
fi

# pip warns about every index location a machine's pip.conf names but lacks.
pip_install() {
    .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

# Reinstall only when the packaging metadata changed since the last install.
stamp=.venv/.datayard-setup
digest=$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    echo "Installing Datayard and its Python packages into .venv ..."
    pip_install --upgrade pip
    pip_install -e ".[dev,train,embedded-store]"
    echo "$digest" > "$stamp"
fi

case "$mode" in
    app) exec .venv/bin/datayard gui "$@" ;;
    test) exec .venv/bin/python -m pytest "$@" ;;
esac
