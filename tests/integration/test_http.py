# test_http.py: what the master answers on its port before (or instead of) a
# WebSocket: plain HTTP statuses, refused upgrades, no subprotocol ever
# selected, a configurable WebSocket path, and half-sent requests that must
# not disturb other clients.

import socket

import pytest
import websockets.exceptions

import harness
from harness import Client, RawWS, http_request, upgrade_headers, run


def test_healthz_200(server):
    status, headers, body = http_request(server.port, "GET", "/healthz")
    assert status == 200


def test_get_ws_without_upgrade_is_426(server):
    status, headers, _ = http_request(server.port, "GET", "/ws")
    assert status == 426


@pytest.mark.parametrize("path", ["/nope", "/", "/ws/extra", "/wsx",
                                  "/healthzz"])
def test_unknown_path_is_404(server, path):
    status, _, _ = http_request(server.port, "GET", path)
    assert status == 404


def test_upgrade_to_unknown_path_is_404(server):
    status, _, _ = http_request(server.port, "GET", "/nope",
                                headers=upgrade_headers())
    assert status == 404


def test_query_string_does_not_change_the_path(server):
    with RawWS(server.port, path="/ws?token=1") as raw:
        assert raw.call({"method": "echo", "params": [1], "id": 1}) == \
            {"id": 1, "result": 1}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_upgrade_with_other_method_is_400_or_405(server, method):
    status, _, _ = http_request(server.port, method, "/ws",
                                headers=upgrade_headers(), body=b"x")
    assert status in (400, 405), status


@pytest.mark.parametrize("version", ["8", "12", "14", "abc"])
def test_bad_websocket_version_is_426_naming_13(server, version):
    status, headers, _ = http_request(server.port, "GET", "/ws",
                                      headers=upgrade_headers(version=version))
    assert status == 426
    versions = [v.strip() for v in
                headers.get("sec-websocket-version", "").split(",")]
    assert "13" in versions, headers


@pytest.mark.parametrize("drop", ["Sec-WebSocket-Key", "Connection"])
def test_upgrade_missing_required_header_is_400(server, drop):
    h = upgrade_headers()
    del h[drop]
    status, _, _ = http_request(server.port, "GET", "/ws", headers=h)
    assert status == 400, status


def test_malformed_key_is_400(server):
    status, _, _ = http_request(server.port, "GET", "/ws",
                                headers=upgrade_headers(key="too-short"))
    assert status == 400


def test_garbage_request_gets_an_answer_not_a_hang(server):
    status, _, _ = http_request(server.port, None, None,
                                raw=b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")
    assert 400 <= status < 500


def test_oversized_headers_refused(server):
    h = upgrade_headers(extra={"X-Big": "b" * 32768})
    status, _, _ = http_request(server.port, "GET", "/ws", headers=h)
    assert status in (400, 431), status


def test_handshake_accept_and_no_subprotocol_selected(server):
    with RawWS(server.port,
               headers={"Sec-WebSocket-Protocol": "foo, bar"}) as raw:
        assert raw.status == 101
        assert raw.headers["upgrade"].lower() == "websocket"
        assert "upgrade" in raw.headers["connection"].lower()
        assert "sec-websocket-protocol" not in raw.headers, raw.headers
        # Nor an extension it does not speak.
        assert "sec-websocket-extensions" not in raw.headers, raw.headers
        raw.send_text('{"method": ".ping", "id": 1}')
        assert raw.recv_json() == {"pong": True}


def test_websockets_client_with_subprotocol_gets_none(server):
    async def body():
        try:
            c = await Client.connect(server, subprotocols=["foo"])
        except websockets.exceptions.InvalidHandshake:
            return  # the library refuses a server that picked nothing: fine
        async with c:
            assert c.ws.subprotocol is None
            assert await c.result("echo", [1]) == 1
    run(body())


def test_permessage_deflate_offer_is_declined(server):
    async def body():
        async with await Client.connect(server) as c:
            # websockets offers permessage-deflate by default.
            assert c.ws.extensions == []
            assert await c.result("echo", ["x" * 1000]) == "x" * 1000
    run(body())


def test_partial_requests_do_not_affect_other_clients(server):
    # One half-sent request closed at once, one left hanging open.
    s1 = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s1.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")
    s1.close()
    s2 = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s2.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        async def body():
            async with await Client.connect(server) as c:
                assert await c.result("echo", ["still here"]) == "still here"
        run(body())
        assert http_request(server.port, "GET", "/healthz")[0] == 200
        # A handshake cut in the middle of a WebSocket connection's life:
        # a frame header with no payload, then close.
        raw = RawWS(server.port)
        raw.send_raw(harness.build_frame(harness.OP_TEXT, b"x" * 100)[:10])
        raw.close_socket()
        run(body())
    finally:
        s2.close()


def test_configurable_ws_path():
    with harness.Server(workers=1, ws_path="/rpc") as srv:
        with RawWS(srv.port, path="/rpc") as raw:
            assert raw.call({"method": "echo", "params": ["p"], "id": 1}) == \
                {"id": 1, "result": "p"}
        assert http_request(srv.port, "GET", "/rpc")[0] == 426
        assert http_request(srv.port, "GET", "/ws",
                            headers=upgrade_headers())[0] == 404
