#!/bin/sh
# demo.sh: install what is needed, build, and start the demo server on
# 127.0.0.1:8080 (Ctrl-C stops it).
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)" -s
echo
echo "wspool demo: connect a WebSocket client to ws://127.0.0.1:8080/ws"
echo "  e.g. send {\"id\": 1, \"method\": \"add\", \"params\": [1, 2]}"
echo
# The durable cleanup journal lives in the build tree (an installed
# server keeps it in $localstatedir/lib/wspool, see wspool-master(8)).
exec ./master/wspool-master --listen 127.0.0.1:8080 --journal ./wspool-journal
