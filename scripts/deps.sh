#!/usr/bin/env bash
# deps.sh — installs the Debian 12 packages raftfs needs to build, test and
# run, when any is missing. Idempotent: does nothing (and needs no network)
# when everything is present. Must run as root on a machine without them.
set -euo pipefail

packages=(
        build-essential autoconf automake pkg-config
        libfuse3-dev fuse3 libsystemd-dev libssl-dev check
        clang libclang-rt-14-dev
        iproute2 util-linux attr psmisc procps
        mandoc groff-base
        python3 libpython3.11-testsuite
)

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
                missing+=("$p")
        fi
done

if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
