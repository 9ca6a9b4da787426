# test_close_frames.py: every close code the master sends reaches a client
# that is still writing (issue 11 item 1, the lingering close). A raw
# client (plain socket, handshake by hand, masked frames) keeps sending
# from a thread while its reader waits for the close frame: the frame must
# arrive, with the right code, before any reset. Clients that then close
# politely see a clean end of stream, never ECONNRESET.

import os
import signal
import struct
import threading

import pytest

import harness
from harness import (RawWS, build_frame, OP_TEXT, OP_BINARY, OP_CONT,
                     OP_PONG, OP_CLOSE, close_payload)

MAX_MESSAGE = 1 << 20
# What one writer sends at most: bounded whatever the server does.
WRITE_CAP = 96 << 20
# A writer that then closes politely sends less than the server discards
# before it stops reading (LINGER_MAX_BYTES, 64 KiB), paced, so that the
# clean end it expects does not depend on how fast its reader runs.
POLITE_CAP = 48 << 10
POLITE_PACE = 0.005

PONG = build_frame(OP_PONG, b"p" * 125) * 8  # valid, unsolicited, ignored


def polite(sock, gen, pace=POLITE_PACE):
    return Flood(sock, gen, cap=POLITE_CAP, pace=pace)


class Flood:
    """A thread that writes chunks from gen until told to stop, the cap,
    or an error (EPIPE/ECONNRESET once the server has closed are fine:
    they are the writer's, after the close frame)."""

    def __init__(self, sock, gen, cap=WRITE_CAP, pace=0):
        self.sock = sock
        self.gen = gen
        self.cap = cap
        self.pace = pace
        self.stop = threading.Event()
        self.sent = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            for chunk in self.gen:
                if self.stop.is_set() or self.sent >= self.cap:
                    return
                self.sock.sendall(chunk)
                self.sent += len(chunk)
                if self.pace:
                    self.stop.wait(self.pace)  # a rate, not a wait for anything
        except OSError as exc:
            self.error = exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(harness.scaled(30))
        assert not self.thread.is_alive(), "the writer never stopped"
        return False


def pongs():
    while True:
        yield PONG


def then_pongs(*first):
    for chunk in first:
        yield chunk
    yield from pongs()


def huge_frame():
    """A 64 MiB text frame: the header, then its payload as it comes."""
    n = 64 << 20
    yield struct.pack("!BBQ", 0x81, 0x80 | 127, n) + os.urandom(4)
    chunk = b"a" * 65536
    for _ in range(n // len(chunk)):
        yield chunk


def fragments():
    """4 MiB of text in 64 KiB fragments, past the 1 MiB limit."""
    piece = b"a" * 65536
    yield build_frame(OP_TEXT, piece, fin=False)
    cont = build_frame(OP_CONT, piece, fin=False)
    for _ in range(4 * 16 - 2):
        yield cont
    yield build_frame(OP_CONT, piece, fin=True)
    yield from pongs()


def read_close_then_end(ws, flood, polite=True):
    """Read until the close frame (its code; None if the stream ended or
    was reset first). If polite, stop writing, answer the close, and
    check the server ends the stream cleanly (EOF, not a reset)."""
    code = ws.read_close()
    if code is None or not polite:
        return code
    flood.stop.set()
    flood.thread.join(harness.scaled(30))
    try:
        ws.send_frame(OP_CLOSE, close_payload(1000))
    except OSError:
        pass  # the server may be done with us already
    try:
        while True:
            chunk = ws.sock.recv(65536)
            if not chunk:
                break
    except ConnectionResetError:
        raise AssertionError("the server reset the connection after its "
                             "close frame (%d) instead of closing" % code)
    return code


@pytest.fixture(scope="module")
def server():
    with harness.Server(workers=1, max_message=MAX_MESSAGE) as srv:
        yield srv


VIOLATIONS = [
    # name, what the writer sends first (then pongs), the code, polite
    ("rsv bits", [build_frame(OP_TEXT, b"{}", rsv=4)], 1002),
    ("unmasked", [build_frame(OP_TEXT, b"{}", mask=False)], 1002),
    ("binary", [build_frame(OP_BINARY, b"\x00" * 100)], 1003),
    ("bad utf-8", [build_frame(OP_TEXT, b"\xc3\x28")], 1007),
]


@pytest.mark.parametrize("first,code", [(f, c) for _, f, c in VIOLATIONS],
                         ids=[n for n, _, _ in VIOLATIONS])
def test_violation_close_reaches_a_writing_client(server, first, code):
    with RawWS(server.port) as ws, \
            polite(ws.sock, then_pongs(*first)) as flood:
        assert read_close_then_end(ws, flood) == code


def test_close_after_a_backlog_of_answers(server):
    """The close frame behind 2 MB of unread answers (the case where a
    close() with unread input lost it: spikes.md section 6)."""
    with RawWS(server.port) as ws:
        big = "x" * 100000
        calls = b"".join(build_frame(OP_TEXT, '{"id":%d,"method":"echo",'
                                     '"params":["%s"]}' % (i, big))
                         for i in range(20))
        ws.send_raw(calls)
        # The answers are written before the binary frame is read: wait
        # until they fill the socket, by reading the first one.
        first = ws.recv_json()
        assert first["id"] in range(20) and first["result"] == big, first
        with polite(ws.sock, then_pongs(build_frame(OP_BINARY, b"x"))) as flood:
            assert read_close_then_end(ws, flood) == 1003


def test_64_mib_message_gets_1009(server):
    with RawWS(server.port) as ws, Flood(ws.sock, huge_frame()) as flood:
        assert read_close_then_end(ws, flood, polite=False) == 1009
        # The server stopped reading after its bound: the writer did not
        # get the whole 64 MiB in.
        flood.stop.set()
    assert flood.sent < 64 << 20 or flood.error is not None, flood.sent


def test_fragments_past_the_limit_get_1009(server):
    with RawWS(server.port) as ws, Flood(ws.sock, fragments()) as flood:
        assert read_close_then_end(ws, flood, polite=False) == 1009


def test_lingering_sockets_are_counted_and_end(server):
    """After a polite end, nothing lingers (the gauge goes back to 0)."""
    with RawWS(server.port) as ws, \
            polite(ws.sock, then_pongs(build_frame(OP_BINARY, b""))) as flood:
        assert read_close_then_end(ws, flood) == 1003

    def lingering():
        _, _, body = harness.http_request(server.port, "GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith("wspool_connections_lingering "):
                return int(line.split()[1]) == 0
        raise AssertionError("no wspool_connections_lingering in /metrics")
    harness.wait_for(lingering, 10, "no socket lingering")


def test_idle_timeout_1000_reaches_a_writing_client():
    with harness.Server(workers=1, extra_args=["--idle-timeout", "1"]) as srv:
        # Paced so that it is still writing when the second passes.
        with RawWS(srv.port) as ws, \
                polite(ws.sock, pongs(), pace=0.05) as flood:
            assert read_close_then_end(ws, flood) == 1000


def test_shutdown_1001_reaches_a_writing_client():
    srv = harness.Server(workers=1)
    with srv:
        with RawWS(srv.port) as ws, \
                polite(ws.sock, pongs(), pace=0.05) as flood:
            # Something read back proves the connection open before
            # the signal.
            ws.send_text('{"method":".ping"}')
            assert ws.recv_json() == {"pong": True}
            srv.proc.send_signal(signal.SIGTERM)
            assert read_close_then_end(ws, flood) == 1001
        rc = srv.proc.wait(timeout=harness.scaled(30))
        assert rc == 0, srv.stderr_text()[-4000:]
