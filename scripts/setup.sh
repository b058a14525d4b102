#!/usr/bin/env bash
# Sets up a fresh machine: the Debian tools the driver, its tests, the image and the arm64 build
# use, the exact npm dependencies from the lockfile (which bring the pinned Node), the arm64
# libraries, and the image's mount tools (Debian packages unpacked, not installed). Each step says
# what it does and how long it takes on a cold machine; a step with nothing to do is skipped
# silently, so a warm run prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf 'setup: %s\n' "$*" >&2; }

need=()
for tool in mkfs.xfs:xfsprogs xfs_growfs:xfsprogs mkfs.ext4:e2fsprogs resize2fs:e2fsprogs blkid:util-linux \
            wipefs:util-linux losetup:mount findmnt:util-linux strip:binutils patchelf:patchelf openssl:openssl \
            strace:strace jq:jq /usr/bin/time:time \
            umoci:umoci skopeo:skopeo \
            aarch64-linux-gnu-strip:binutils-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static; do
  # strace kills a test mkfs part way; jq and time for `npm run bench`; umoci and skopeo for
  # `npm run image` and its test; the last two for the arm64 binary (strip) and its tests (the emulator).
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  packages=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" -eq 0 ]; then
    step "installing Debian packages: ${packages}(about 30 s)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages} >/dev/null
  else
    echo "missing Debian packages (run as root to install them): ${packages}" >&2
  fi
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step 'npm ci: the exact dependencies from package-lock.json, with the pinned Node (about 95 s on a cold machine, quiet meanwhile)'
  started=$SECONDS
  npm ci --no-audit --no-fund --loglevel=error
  step "npm ci done in $((SECONDS - started)) s"
fi

if [ ! -e node_modules/.cache/sysroot-arm64/lib/ld-linux-aarch64.so.1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    step 'arm64 glibc, libstdc++ and libgcc_s from Debian, unpacked for the arm64 image and tests (about 5 s)'
    ./scripts/build-arm64-sysroot.sh
  else
    echo 'the arm64 libraries need root once (dpkg --add-architecture arm64): sudo scripts/build-arm64-sysroot.sh' >&2
  fi
fi

if [ ! -x node_modules/.cache/mount-tools-amd64/sbin/mount.nfs ] || [ ! -x node_modules/.cache/mount-tools-arm64/sbin/mount.nfs ]; then
  if [ "$(id -u)" -eq 0 ]; then
    step 'mount and mount.nfs with their libraries from Debian (mount, nfs-common), amd64 and arm64, unpacked for the image (about 15 s)'
    ./scripts/fetch-mount-tools.sh
  else
    echo 'the image'"'"'s mount tools need root once (dpkg --add-architecture arm64): sudo scripts/fetch-mount-tools.sh' >&2
  fi
fi
