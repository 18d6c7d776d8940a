#!/usr/bin/env bash
# mk/ensure-debian-packages.sh "COMMAND..." PACKAGE...
# When any COMMAND is missing, install the Debian PACKAGEs: with apt-get as root (CI runs as root),
# otherwise print the one command a user without root needs, and fail.
set -euo pipefail
commands=$1
shift
missing=$(for c in $commands; do command -v "$c" >/dev/null || echo "$c"; done | xargs)
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "installing Debian's $* (missing: $missing)"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
else
	echo "missing: $missing. Install Debian's $* as root, then rerun:" >&2
	echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $*" >&2
	exit 1
fi
