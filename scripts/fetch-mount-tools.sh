#!/usr/bin/env bash
# mount(8) and mount.nfs for the image, so the provisioner can mount an NFS export to make each
# claim's subdirectory: Debian's mount and nfs-common and the libraries they link (beyond glibc,
# which the image already has), of this machine's Debian release, for amd64 and arm64 (the foreign
# architecture scripts/build-arm64-sysroot.sh adds), unpacked (not installed) into
# node_modules/.cache/mount-tools-<arch>. libtirpc-common brings /etc/netconfig, which libtirpc
# reads to pick a transport. scripts/build-image.ts takes the closure from there. About 5 s;
# nothing to do when present.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(mount nfs-common libmount1 libblkid1 libselinux1 libpcre2-8-0 libtirpc3
          libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1)
candidate() { apt-cache policy "$1" | sed -n 's/^ *Candidate: //p'; }
for arch in amd64 arm64; do
  root=node_modules/.cache/mount-tools-$arch
  [ -x "$root/sbin/mount.nfs" ] && continue
  if [ "$arch" = arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64  # lets apt see arm64 packages; nothing arm64 is installed
    apt-get update -qq
  fi
  # Both architectures at the amd64 candidate's version, so the two images hold the same tools.
  wanted=("libtirpc-common=$(candidate libtirpc-common)")  # Architecture: all
  for package in "${packages[@]}"; do wanted+=("$package:$arch=$(candidate "$package:amd64")"); done
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${wanted[@]}")
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  mkdir -p "$(dirname "$root")"
  rm -rf "$root"
  mv "$work/root" "$root"
  rm -rf "$work"
  trap - EXIT
done
