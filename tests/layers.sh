#!/bin/sh
# layers.sh: make check's run of tools/layers.py: the include graph of
# master/, worker/, proto/, common/ and json/ has no cycle but conn <-> rpc, and no file
# there is over 700 lines.
src=${WSPOOL_SRCDIR:-$(dirname "$0")/..}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$src/tools/layers.py" --root "$src" master proto common worker json
