#!/usr/bin/env bash
# A local stand-in for the Dockerfile's FROM image (python:3.11-slim-bookworm) for
# machines that reach no container registry: Debian bookworm (debootstrap) with
# python3 and venv, imported into podman as IMAGE. Does nothing when IMAGE exists.
#
# The host's extra CA certificates (/usr/local/share/ca-certificates) go into it too:
# pip inside a build here passes through the same TLS interception as the host's.
set -euo pipefail
image=${1:?usage: standin-base.sh IMAGE}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$image"; then
    exit 0
fi
root=$(mktemp -d /var/tmp/rooms-base.XXXXXX)
log=$(mktemp)
trap 'rm -rf "$root" "$log"' EXIT
debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root" "$mirror" >"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --quiet \
    --change 'CMD ["python3"]' \
    --change 'LABEL org.opencontainers.image.description=stand-in for python:3.11-slim-bookworm (debootstrap)' \
    - "$image" >/dev/null
echo "built stand-in base image $image"
