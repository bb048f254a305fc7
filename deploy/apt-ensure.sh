#!/usr/bin/env bash
# Installs the Debian packages named that are not installed yet (apt-get, as root, as
# CI runs on a fresh machine); does nothing when all are there.
set -euo pipefail
missing=()
for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "apt-ensure: root is needed to install: ${missing[*]}" >&2
    exit 1
fi
echo "apt-ensure: installing ${missing[*]}"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
