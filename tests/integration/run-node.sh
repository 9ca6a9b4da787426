#!/bin/sh
# run-node.sh: run a node:test file with Node's built-in WebSocket client.
# Node 20 has it behind --experimental-websocket, Node 22 by default; an
# older Node (Debian 12's own nodejs is 18) has none: the test is skipped
# (exit 77), saying why, rather than failing on a missing client.
node=${NODE:-node}
if "$node" --experimental-websocket -e \
	'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	exec "$node" --experimental-websocket --no-warnings --test "$@"
fi
if "$node" -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
	exec "$node" --no-warnings --test "$@"
fi
echo "SKIP: $("$node" --version 2>/dev/null || echo 'no node') has no built-in WebSocket (Node >= 20 needed)"
exit 77
