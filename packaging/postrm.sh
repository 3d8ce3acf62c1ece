#!/bin/sh
# minimix postrm: the data in /var/lib/minimix and the minimix user stay
# on remove and on purge (accounts and archives are not lost to a
# mistaken purge); delete them by hand: rm -r /var/lib/minimix; deluser minimix.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
