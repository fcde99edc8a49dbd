#!/bin/sh
# System packages the browser tests need (Debian's Chromium).  Installs them when we may (root, or
# passwordless sudo); otherwise says so, and the browser tests skip with that reason.
set -eu
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "system-deps: chromium is not installed and I cannot install it (need root): browser tests will skip." >&2
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
else
    echo "system-deps: no apt-get here; install Chromium yourself for the browser tests." >&2
fi
