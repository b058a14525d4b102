#!/bin/sh
# The reference for the azurefile mount overhead: the mount path of Azure's smb FlexVolume driver
# (Azure/kubernetes-volume-drivers flexvolume/smb), condensed and reading this driver's options:
# one jq per option and Secret key, base64 -d for the Secret values, date-stamped log lines, a
# findmnt check, mkdir, mount; its unmount: a findmnt check, a log line, umount. The benchmark puts
# true(1) first on the PATH as `mount` (unmount runs the real umount of a real mount).
LOG="${PEER_LOG:-/dev/null}"

log() {
	echo "$(date)" "INFO:" "$*" >>"$LOG"
	echo "$*"
}

ismounted() {
	MOUNT=$(findmnt -n "${MNTPATH}" 2>/dev/null | cut -d' ' -f1)
	echo "$MOUNT" | grep -q "${MNTPATH}"
}

domount() {
	MNTPATH="$1"
	JSON="$2"
	SHARE=$(echo "$JSON" | jq -r '.shareName')
	READ_MODE=$(echo "$JSON" | jq -r '.["kubernetes.io/readwrite"]')
	MOUNT_OPTIONS=$(echo "$JSON" | jq -r '.mountOptions // empty')
	FS_GROUP=$(echo "$JSON" | jq -r '.["kubernetes.io/mounterArgs.FsGroup"] // empty')
	ACCOUNT=$(echo "$JSON" | jq -r '.["kubernetes.io/secret/azurestorageaccountname"] // empty' | base64 -d)
	PASSWD=$(echo "$JSON" | jq -r '.["kubernetes.io/secret/azurestorageaccountkey"] // empty' | base64 -d)
	export PASSWD
	ALL_OPTIONS="username=${ACCOUNT},vers=3.0,dir_mode=0777,file_mode=0777,${READ_MODE}"
	[ -n "$FS_GROUP" ] && ALL_OPTIONS="${ALL_OPTIONS},gid=${FS_GROUP}"
	[ -n "$MOUNT_OPTIONS" ] && ALL_OPTIONS="${ALL_OPTIONS},${MOUNT_OPTIONS}"
	if ismounted; then
		log '{"status": "Success"}'
		exit 0
	fi
	echo "$(date) EXEC: mkdir -p ${MNTPATH}" >>"$LOG"
	mkdir -p "${MNTPATH}" >>"$LOG" 2>&1
	echo "$(date) EXEC: mount -t cifs //${ACCOUNT}.file.core.windows.net/${SHARE} ${MNTPATH}" >>"$LOG"
	if ! mount -t cifs "//${ACCOUNT}.file.core.windows.net/${SHARE}" "${MNTPATH}" -o "${ALL_OPTIONS}" >>"$LOG" 2>&1; then
		echo "{ \"status\": \"Failure\", \"message\": \"Failed to mount at ${MNTPATH}\" }" >&2
		exit 1
	fi
	log '{"status": "Success"}'
	exit 0
}

unmount() {
	MNTPATH="$1"
	if ! ismounted; then
		log '{"status": "Success"}'
		exit 0
	fi
	echo "$(date) EXEC: umount $MNTPATH" >>"$LOG"
	if ! umount "$MNTPATH" >>"$LOG" 2>&1; then
		echo "{ \"status\": \"Failure\", \"message\": \"Failed to unmount ${MNTPATH}\" }" >&2
		exit 1
	fi
	log '{"status": "Success"}'
	exit 0
}

case "$1" in
	init) log '{"status": "Success", "capabilities": {"attach": false}}' ;;
	mount) domount "$2" "$3" ;;
	unmount) unmount "$2" ;;
	*) echo '{"status": "Not supported"}' ;;
esac
