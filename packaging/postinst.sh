#!/bin/sh
# minimix postinst: the service's own system user, which owns the data
# directory and may read the configuration (it can hold secrets).
set -e
if [ "$1" = configure ] || [ "$1" = "" ] || [ "$1" = 1 ]; then
	if ! getent passwd minimix >/dev/null; then
		adduser --system --group --quiet --home /var/lib/minimix --no-create-home \
			--shell /usr/sbin/nologin --gecos "minimix XMPP server" minimix
	fi
	chown minimix:minimix /var/lib/minimix
	chmod 0700 /var/lib/minimix
	chgrp minimix /etc/minimix/minimix.toml
	chmod 0640 /etc/minimix/minimix.toml
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
		# Enabled, not started: set domain in /etc/minimix/minimix.toml
		# first, then systemctl start minimix.
		systemctl enable minimix.service >/dev/null 2>&1 || true
	fi
fi
exit 0
