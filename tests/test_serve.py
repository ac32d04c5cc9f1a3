"""model.serve: a real server (uvicorn on a socket) and the command's usage errors."""

import http.client
import json
import socket
import urllib.request

import pytest

from conftest import untrained_run
from model.serve import main
from model.serving.http import HEADER_SECONDS, MAX_BODY
from servers import running


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained tiny model: what the API does with a reading does not depend on it."""
    root = tmp_path_factory.mktemp("run")
    return untrained_run(root)




def test_real_server_refuses_big_bodies_on_a_socket_and_goes_on(run_dir, png):
    """Through uvicorn itself: a body declared too large is refused before it is sent, one
    streamed without a length once it passes the limit; then the server reads on."""
    with running(run_dir) as url:
        host, port = url.removeprefix("http://").split(":")
        declared = http.client.HTTPConnection(host, int(port), timeout=30)
        declared.putrequest("POST", "/api/read")
        declared.putheader("Content-Type", "image/png")
        declared.putheader("Content-Length", str(MAX_BODY + 1))
        declared.endheaders(b"\0" * 1024)  # the rest would follow; the answer comes first
        streamed = http.client.HTTPConnection(host, int(port), timeout=30)
        streamed.request("POST", "/api/read", body=(b"\0" * 2**20 for _ in range(5)),
                         encode_chunked=True, headers={"Content-Type": "image/png"})
        streamed_over = http.client.HTTPConnection(host, int(port), timeout=30)
        streamed_over.request("POST", "/api/read", body=iter([b"\0" * (MAX_BODY + 1)]),
                              encode_chunked=True, headers={"Content-Type": "image/png"})
        answers = [(c.getresponse(), c) for c in (declared, streamed_over, streamed)]
        statuses = []
        for response, conn in answers:
            statuses.append(response.status)
            assert "error" in json.loads(response.read())
            conn.close()
        assert statuses == [413, 413, 422]  # 5 MiB exactly is allowed (and not an image)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/api/read", body=png, headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["image"]


def test_cli_usage_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    for flag, value in (("--port", "70000"), ("--threads", "0"), ("--beam-width", "nan")):
        with pytest.raises(SystemExit) as stopped:  # argparse's usage error: exit 2
            main([str(tmp_path), flag, value])
        assert stopped.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err


def test_connections_whose_headers_never_finish_are_closed(run_dir):
    """A client sending a request line and then nothing more (a slow-headers attack) holds
    a connection no longer than HEADER_SECONDS, and normal requests are served meanwhile."""
    with running(run_dir) as url:
        port = int(url.rsplit(":", 1)[1])
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for s in sockets:
            s.sendall(b"POST /api/read HTTP/1.1\r\nHost: x\r\n")
        with urllib.request.urlopen(url + "/api/info", timeout=10) as answer:
            assert answer.status == 200
        for s in sockets:
            s.settimeout(HEADER_SECONDS + 60)  # a hung connection fails the test, in time
            assert s.recv(100) == b""  # closed by the server
            s.close()
