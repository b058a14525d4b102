#!/usr/bin/env bash
# Sets up a fresh machine: the Debian tools the driver and its tests run (xfsprogs and friends),
# then the exact npm dependencies from the lockfile (which bring the pinned Node).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in mkfs.xfs:xfsprogs xfs_growfs:xfsprogs mkfs.ext4:e2fsprogs resize2fs:e2fsprogs blkid:util-linux \
            wipefs:util-linux losetup:mount findmnt:util-linux strip:binutils patchelf:patchelf openssl:openssl \
            strace:strace jq:jq /usr/bin/time:time; do  # strace kills a test mkfs part way; jq and time for `npm run bench`
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
  else
    echo "missing Debian packages (run as root to install them): ${need[*]}" >&2
  fi
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
