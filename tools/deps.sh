#!/bin/sh
# deps.sh: install every Debian 12 package wspool needs to build, test and
# run. The one list of dependencies; tools/demo.sh and tools/test.sh use it.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config
  libevent-dev libnng-dev libmsgpack-dev libyajl-dev libssl-dev
  libwslay-dev libhttp-parser-dev uthash-dev liblmdb-dev libhiredis-dev
  zlib1g-dev
  redis-server check
  python3 python3-pytest python3-websockets python3-msgpack valgrind curl
  openssl iproute2 haproxy chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Node: any packaged Node; the Node test uses its built-in WebSocket.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
# npm: the Node tests' packages (tests/package.json: ws; typescript).
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
