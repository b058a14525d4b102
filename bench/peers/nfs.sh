#!/bin/bash
# The reference for the nfs mount overhead: the mount path of the kubernetes/examples nfs
# FlexVolume driver (staging/volumes/flexvolume/nfs), condensed: one jq per option, a findmnt
# check, mkdir, mount; its unmount: a findmnt check, umount. The benchmark puts true(1) first on
# the PATH as `mount` (unmount runs the real umount of a real mount).
err() { echo -ne "$*" 1>&2; }
log() { echo -ne "$*" >&1; }

ismounted() {
	MOUNT=$(findmnt -n "${MNTPATH}" 2>/dev/null | cut -d' ' -f1)
	if [ "${MOUNT}" == "${MNTPATH}" ]; then echo 1; else echo 0; fi
}

domount() {
	MNTPATH=$1
	local NFS_SERVER=$(echo "$2" | jq -r '.server')
	local SHARE=$(echo "$2" | jq -r '.share')
	local PROTOCOL=$(echo "$2" | jq -r '.protocol')
	local ATIME=$(echo "$2" | jq -r '.atime')
	local READONLY=$(echo "$2" | jq -r '.readonly')
	[ -n "${PROTOCOL}" ] && PROTOCOL=tcp
	[ -n "${ATIME}" ] && ATIME=0
	[ -n "${READONLY}" ] && READONLY=0
	if [ "$(ismounted)" -eq 1 ]; then
		log '{"status": "Success"}'
		exit 0
	fi
	mkdir -p "${MNTPATH}" &>/dev/null
	local NFSOPTS="${PROTOCOL},_netdev,soft,timeo=10,intr"
	[ "${ATIME}" == 0 ] && NFSOPTS="${NFSOPTS},noatime"
	[ "${READONLY}" != 0 ] && NFSOPTS="${NFSOPTS},ro"
	if ! mount -t nfs -o "${NFSOPTS}" "${NFS_SERVER}:/${SHARE}" "${MNTPATH}" &>/dev/null; then
		err "{ \"status\": \"Failure\", \"message\": \"Failed to mount ${NFS_SERVER}:${SHARE} at ${MNTPATH}\"}"
		exit 1
	fi
	log '{"status": "Success"}'
	exit 0
}

unmount() {
	MNTPATH=$1
	if [ "$(ismounted)" -eq 0 ]; then
		log '{"status": "Success"}'
		exit 0
	fi
	if ! umount "${MNTPATH}" &>/dev/null; then
		err "{ \"status\": \"Failed\", \"message\": \"Failed to unmount volume at ${MNTPATH}\"}"
		exit 1
	fi
	log '{"status": "Success"}'
	exit 0
}

if ! command -v jq >/dev/null 2>&1; then
	err '{ "status": "Failure", "message": "jq not found"}'
	exit 1
fi
case "$1" in
	init) log '{"status": "Success", "capabilities": {"attach": false}}' ;;
	mount) shift; domount "$@" ;;
	unmount) shift; unmount "$@" ;;
	*) log '{"status": "Not supported"}' ;;
esac
