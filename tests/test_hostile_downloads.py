"""Downloads: connect and read timeouts and a size cap, each named when hit (loopback
servers in a thread)."""

from __future__ import annotations

import importlib
import socket
import threading

import pytest

from squeezenet.weights import WeightsError

fetch = importlib.import_module("squeezenet.weights.fetch")  # the module, not the function


@pytest.fixture
def server():
    """Start a loopback server that accepts and sends ``answer`` (None: never answers);
    returns its base URL. Closed at the end of the test."""
    held: list[socket.socket] = []

    def start(answer: bytes | None) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        held.append(listener)

        def serve():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                held.append(conn)
                if answer is not None:
                    conn.recv(65536)
                    conn.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for s in held:
        s.close()


def test_download_that_never_answers_times_out(hub_dir, monkeypatch, server):
    monkeypatch.setattr(fetch, "TIMEOUT", 0.5)
    url = server(None) + "/w-abcdef12.pth"
    with pytest.raises(WeightsError, match=r"w-abcdef12.pth: download failed: .*read timeout"):
        fetch.fetch(url, progress=False)
    assert not any(p.is_file() for p in hub_dir.rglob("*"))


def test_download_that_stops_sending_times_out(hub_dir, monkeypatch, server):
    monkeypatch.setattr(fetch, "TIMEOUT", 0.5)
    url = server(b"HTTP/1.0 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100) + "/w.pth"
    with pytest.raises(
        WeightsError, match=r"w.pth: download failed: no data for 0.5 s after 100 bytes"
    ):
        fetch.fetch(url, progress=False)
    assert not any(p.is_file() for p in hub_dir.rglob("*"))


def test_download_over_the_size_cap_is_refused(hub_dir, monkeypatch, server):
    monkeypatch.setattr(fetch, "MAX_DOWNLOAD_BYTES", 1000)
    url = server(b"HTTP/1.0 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000) + "/big.pth"
    with pytest.raises(WeightsError, match=r"big.pth: download failed: 5,000 bytes.*size cap"):
        fetch.fetch(url, progress=False)
    # Without a declared length, the count of bytes received stops it.
    url = server(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000) + "/big2.pth"
    with pytest.raises(WeightsError, match=r"big2.pth: download failed: more than 1,000 bytes"):
        fetch.fetch(url, progress=False)
