#!/usr/bin/env bash
# The arm64 libraries of the arm64 standalone binary: Debian's libc6, libstdc++6 and libgcc-s1 for
# arm64, of the same versions as this machine's amd64 ones, unpacked (not installed) into
# node_modules/.cache/sysroot-arm64. The arm64 image ships them, and qemu-aarch64-static runs the
# arm64 binary on them in the tests (`-L <sysroot>`). About 2 s; nothing to do when present.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=node_modules/.cache/sysroot-arm64
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] && exit 0
packages=()
for package in libc6 libstdc++6 libgcc-s1; do
  packages+=("$package:arm64=$(dpkg-query -W -f='${Version}' "$package:amd64")")
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64  # lets apt see arm64 packages; nothing arm64 is installed
  apt-get update -qq
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}")
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
mkdir -p "$(dirname "$sysroot")"
mv "$work/root" "$sysroot"
