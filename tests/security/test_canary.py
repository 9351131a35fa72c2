"""The allow-list opens one door: a canary on another port of an allowed address sees no connection.

The feed server is allowed as ``127.0.0.1:PORT`` (what ``wirewatch demo`` and the tests configure). It
redirects to the canary's port under every spelling of its address that a resolver accepts, by name
and through a chain of hops; the canary counts connections and must count none. The client comes
from the settings, as the workers build it.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import BlockedAddress, BlockedRedirect
from workers import cli
from workers.runtime import Runtime
from workers.settings import Settings

FEED = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Allowed</title>
<item><title>The one story this door serves</title><link>/story</link></item></channel></rss>"""


class Canary:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.seen = 0

    def connections(self) -> int:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                return self.seen
            conn.close()
            self.seen += 1


class Redirector(http.server.BaseHTTPRequestHandler):
    """``/feed`` is a feed; ``/to?u=URL`` redirects there; ``/hop?u=URL`` redirects to ``/to?u=URL`` first."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        parts = urllib.parse.urlsplit(self.path)
        target = urllib.parse.parse_qs(parts.query).get("u", [""])[0]
        if parts.path == "/feed":
            self._send(200, FEED, "application/rss+xml")
        elif parts.path == "/to":
            self._send(302, b"", location=target)
        elif parts.path == "/hop":
            self._send(301, b"", location="/to?u=" + urllib.parse.quote(target, safe=""))
        else:
            self._send(404, b"", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str = "text/html", location: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        return


@pytest.fixture(scope="module")
def door() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.sock.close()


def _runtime(door: str, tmp_path: Path) -> Runtime:
    entry = door.split("//", 1)[1]  # host:port, exactly what is served
    settings = Settings.from_env({"WIREWATCH_ALLOW_HOSTS": entry, "WIREWATCH_DATA_DIR": str(tmp_path),
                                  "WIREWATCH_TOTAL_TIMEOUT_S": "2", "WIREWATCH_READ_TIMEOUT_S": "1"})
    return Runtime(settings)


SPELLINGS = [
    "127.0.0.1",
    "2130706433",  # one decimal number
    "0x7f000001",  # one hex number
    "0177.0.0.1",  # octal first part
    "127.1",  # shortened
    "127.0.0.2",  # another address of the loopback block (Linux answers on all of 127/8)
    "localhost",  # a name that resolves to it
    "LOCALHOST",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[::ffff:7f00:1]",
    "[::1]",
]
# ("127.0.0.1." with a trailing dot does not resolve here at all: a network error, and no connection.)


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("route", ["to", "hop"])
def test_canary_on_another_port_sees_no_connection(
    door: str, canary: Canary, tmp_path: Path, spelling: str, route: str
) -> None:
    client = _runtime(door, tmp_path).http
    try:
        assert client.get(f"{door}/feed").status == 200  # the door itself is open
        target = f"http://{spelling}:{canary.port}/feed"
        with pytest.raises(BlockedRedirect) as info:
            client.get(f"{door}/{route}?u=" + urllib.parse.quote(target, safe=""))
        # A blocked address naming where the redirect pointed, never a content error.
        assert info.value.reason == "blocked_redirect"
        assert f"to {target} refused" in str(info.value)
        assert "is not in the allow-list" in str(info.value) or "malformed" in str(info.value)
        with pytest.raises(BlockedAddress):
            client.get(target)  # and not directly either
    finally:
        client.close()
    assert canary.connections() == 0


def test_allowed_name_on_the_canary_port_is_resolved_and_refused(
    door: str, canary: Canary, tmp_path: Path
) -> None:
    """``localhost:PORT`` allowed opens localhost on that port only, after resolving it like any name."""
    port = door.rsplit(":", 1)[1]
    settings = Settings.from_env({"WIREWATCH_ALLOW_HOSTS": f"localhost:{port}", "WIREWATCH_DATA_DIR": str(tmp_path)})
    client = Runtime(settings).http
    try:
        for host in ("localhost", "127.0.0.1"):
            with pytest.raises(BlockedAddress):
                client.get(f"http://{host}:{canary.port}/feed")
        with pytest.raises(BlockedAddress):
            client.get(f"http://127.0.0.1:{port}/feed")  # the name was listed, not the address
    finally:
        client.close()
    assert canary.connections() == 0


def test_feeds_check_names_the_refused_redirect(
    door: str, canary: Canary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a user sees: `wirewatch feeds check` reports a blocked redirect and its target."""
    for key in [k for k in os.environ if k.startswith("WIREWATCH_") and not k.startswith("WIREWATCH_TEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("WIREWATCH_ALLOW_HOSTS", door.split("//", 1)[1])
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    target = f"http://2130706433:{canary.port}/feed"
    code = cli.main(["feeds", "check", f"{door}/to?u=" + urllib.parse.quote(target, safe=""), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    assert report["error"].startswith("blocked_redirect: redirect from ")
    assert f"to {target} refused" in report["error"]
    assert canary.connections() == 0
