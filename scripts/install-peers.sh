#!/usr/bin/env bash
# Install the Debian packages that tests use as peers (dcmtk for DICOM, coturn for TURN,
# chromium for browser tests). Idempotent: packages already installed are skipped quickly, and
# `apt-get update` runs only when something is missing. Never fails the build: when apt is not
# usable a warning is printed and the tests that need a peer skip themselves.
set -u

PACKAGES=(dcmtk coturn chromium fonts-noto-cjk)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if dpkg -s "$pkg" >/dev/null 2>&1; then
        continue
    fi
    missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-peers: all present (${PACKAGES[*]})"
    exit 0
fi

warn() {
    echo "install-peers: WARNING: $*; tests needing ${missing[*]} will be skipped" >&2
    exit 0
}

command -v apt-get >/dev/null 2>&1 || warn "apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        warn "not root and no password-less sudo"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-peers: installing ${missing[*]}"
$SUDO apt-get update -qq || warn "apt-get update failed"
# One package at a time, so that one unavailable package does not block the others.
for pkg in "${missing[@]}"; do
    $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null \
        || echo "install-peers: WARNING: could not install $pkg; tests needing it will skip" >&2
done
exit 0
