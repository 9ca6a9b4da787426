#!/bin/sh
# test.sh: install what is needed, build, and run the whole test suite:
# make check, make distcheck, the suite again under ASan+UBSan, and the
# unit tests under valgrind.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)
sh tools/deps.sh
autoreconf -fi

echo "== build and make check"
rm -rf _build && mkdir _build && cd _build
../configure -q --enable-werror
make -j"$jobs" -s
make -j"$jobs" check || { cat test-suite.log; exit 1; }

echo "== unit tests under valgrind"
make -s check-valgrind

echo "== make install, and a module built against it with pkg-config"
dest=$(mktemp -d)
make -s install DESTDIR="$dest" >/dev/null
inst="$dest/usr/local"
pc="$inst/lib/pkgconfig"
# wspool.pc names /usr/local: point pkg-config at the staged tree.
cc -shared -fPIC $(PKG_CONFIG_PATH="$pc" pkg-config --define-prefix --cflags --libs wspool) \
	-o "$dest/hello.so" ../examples/hello.c
LD_LIBRARY_PATH="$inst/lib" "$inst/bin/wspool-master" --check "$dest/hello.so"
LD_LIBRARY_PATH="$inst/lib" "$inst/bin/wspool-master" --check >/dev/null  # the installed demo
LD_LIBRARY_PATH="$inst/lib" "$inst/bin/wspool-master" --emit-routes ts "$dest/hello.so" |
	grep -q '^  add: {protocol: websocket, pattern: "r"} as ws.Route<(a: number, b: number, requestOptions?: ws.RequestOptions) => Promise<number>>,$' ||
	{ echo "wspool-master --emit-routes ts: not the route of hello.c"; exit 1; }
for f in bin/wspool-master bin/wspool-worker include/wspool.h lib/libwspool.so \
	lib/pkgconfig/wspool.pc lib/wspool/demo.so share/man/man8/wspool-master.8 \
	share/man/man8/wspool-worker.8 share/man/man3/wspool.3 \
	bin/wspool-call share/man/man1/wspool-call.1 \
	lib/systemd/system/wspool.service etc/wspool.conf var/lib/wspool; do
	[ -e "$inst/$f" ] || { echo "make install did not install $f"; exit 1; }
done
"$inst/bin/wspool-call" --version >/dev/null
rm -rf "$dest"

echo "== make distcheck"
make -s distcheck DISTCHECK_CONFIGURE_FLAGS=-q >distcheck.log 2>&1 ||
	{ tail -100 distcheck.log; exit 1; }
tail -4 distcheck.log

echo "== ASan+UBSan build and make check"
cd "$top" && rm -rf _build-asan && mkdir _build-asan && cd _build-asan
../configure -q --enable-sanitizers --enable-werror
make -j"$jobs" -s
make -j"$jobs" check || { cat test-suite.log; exit 1; }

# One closing line for both builds' suites (automake's own summaries above).
passed=0
failed=0
for log in "$top/_build/test-suite.log" "$top/_build-asan/test-suite.log"; do
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
done
echo "tests: $passed passed, $failed failed"
