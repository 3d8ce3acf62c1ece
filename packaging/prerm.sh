#!/bin/sh
# minimix prerm: stop the service before its files go.
set -e
if [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = "" ] || [ "$1" = 0 ]; }; then
	systemctl stop minimix.service >/dev/null 2>&1 || true
	systemctl disable minimix.service >/dev/null 2>&1 || true
fi
exit 0
