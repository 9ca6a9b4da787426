# test_client_io.py: the client connections' I/O (master/conn.c, sockio.c):
# a client that does not read its answers stops being read from, and is
# read again once it catches up; answers written at the end of a turn keep
# their order and lose nothing.

import json
import socket
import threading

import harness
from harness import OP_TEXT, RawWS, build_frame, metric, wait_for


def test_a_client_that_does_not_read_is_throttled_then_resumed(server):
    # 32 answers of 512 KiB (16 MiB, far past the 1 MiB --max-client-backlog) that the
    # client does not read: the master stops reading the connection. Then
    # 32 more calls: the master does not read them while other clients are
    # served. Once the client reads, everything is answered.
    n, big = 32, "x" * (512 * 1024)

    def frames(first):
        return [build_frame(OP_TEXT, json.dumps(
            {"method": "echo", "params": [big], "id": i}).encode())
            for i in range(first, first + n)]

    with RawWS(server.port, timeout=60) as ws:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        ws.send_raw(b"".join(frames(0)))
        wait_for(lambda: metric(server.port,
                                "wspool_connections_throttled") == 1,
                 30, "the connection to be throttled")
        received0 = metric(server.port, "wspool_bytes_received_total")
        second = b"".join(frames(n))
        failed = []

        def send_second():
            try:
                ws.sock.sendall(second)
            except OSError as e:
                failed.append(e)

        sender = threading.Thread(target=send_second)
        sender.start()
        try:
            # Other clients are served meanwhile, turn after turn...
            for i in range(5):
                with RawWS(server.port) as other:
                    assert other.call({"method": "add", "params": [i, 1],
                                       "id": 1}) == {"id": 1, "result": i + 1}
            # ...while the second half stays unread.
            received = metric(server.port,
                              "wspool_bytes_received_total") - received0
            assert received < len(second) / 2, (received, len(second))
            # Reading the answers lets it go on: every one, once.
            got = set()
            for _ in range(2 * n):
                msg = ws.recv_json()
                assert msg["id"] not in got and msg["result"] == big, \
                    str(msg)[:200]
                got.add(msg["id"])
        finally:
            sender.join(harness.scaled(60))
        assert not failed, failed
        assert not sender.is_alive()
        assert got == set(range(2 * n))
        wait_for(lambda: metric(server.port,
                                "wspool_connections_throttled") == 0,
                 10, "the connection no longer throttled")
        # Still a working connection.
        assert ws.call({"method": "add", "params": [2, 3], "id": "after"}) \
            == {"id": "after", "result": 5}


def test_answers_of_one_turn_come_in_order_and_whole(server):
    # Many calls in one write: their answers are written together at the
    # end of the turns that produce them; every one arrives exactly once.
    n = 500
    with RawWS(server.port) as ws:
        ws.send_raw(b"".join(build_frame(OP_TEXT, json.dumps(
            {"method": "add", "params": [i, 1], "id": i}).encode())
            for i in range(n)))
        got = {}
        for _ in range(n):
            msg = ws.recv_json()
            assert msg["id"] not in got, msg
            got[msg["id"]] = msg["result"]
        assert got == {i: i + 1 for i in range(n)}
