"""Adapters that need no services: the file raw store, the guarded HTTP client and the FTS5 query builder."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

import gzip
import hashlib
import http.server
import re
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import BlockedAddress, BlockedRedirect, Gone, PermanentError, TooLarge, TransientError
from workers.adapters.http import GuardedHttpClient, address_allowed
from workers.adapters.raw_store import FileRawStore
from workers.adapters.sqlite_index import fts_query
from workers.settings import AllowList, Settings, SettingsError, dialled_address, parse_allow_entry

# --- FileRawStore ------------------------------------------------------------------------------------

PAGE = b"<html><head><title>Drill</title></head><body><p>NATO began a two-week exercise.</p></body></html>"


def test_raw_store_put_returns_sha256(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path)
    key = store.put(PAGE)
    assert key == hashlib.sha256(PAGE).hexdigest()


def test_raw_store_round_trip_and_gzip_file(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path)
    key = store.put(PAGE)
    assert store.get(key) == PAGE
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    stored = files[0].read_bytes()
    assert stored[:2] == b"\x1f\x8b"  # gzip magic
    assert gzip.decompress(stored) == PAGE
    assert files[0].name == f"{key}.gz"
    # a fresh store over the same directory reads it too
    assert FileRawStore(tmp_path).get(key) == PAGE


def test_raw_store_put_is_idempotent(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path)
    key = store.put(PAGE)
    path = next(p for p in tmp_path.rglob("*.gz"))
    before = path.stat().st_mtime_ns
    assert store.put(PAGE) == key
    assert path.stat().st_mtime_ns == before
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]  # no temp files left behind
    other = store.put(PAGE + b"<!-- v2 -->")
    assert other != key
    assert store.get(other) == PAGE + b"<!-- v2 -->"


def test_raw_store_empty_body(tmp_path: Path) -> None:
    store = FileRawStore(tmp_path)
    key = store.put(b"")
    assert store.get(key) == b""


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abc",
        "../../etc/passwd",
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
        "../" + "0" * 61,
        "0" * 62 + "/x",
    ],
)
def test_raw_store_bad_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(PermanentError):
        FileRawStore(tmp_path).get(key)


def test_raw_store_missing_key(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as info:
        FileRawStore(tmp_path).get(hashlib.sha256(b"never stored").hexdigest())
    assert "not in the raw store" in str(info.value)


# --- address_allowed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2001:4860:4860::8888"])
def test_public_addresses_allowed(ip: str) -> None:
    assert address_allowed(ip) is True


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "255.255.255.255",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
    ],
)
def test_non_public_addresses_refused(ip: str) -> None:
    assert address_allowed(ip) is False


# --- GuardedHttpClient against a local server -------------------------------------------------------

MAX_BODY = 100_000
GZIP_OK = gzip.compress(PAGE)
GZIP_BOMB = gzip.compress(b"\0" * (5 * 1024 * 1024))  # ~5 KB on the wire, 5 MB decompressed


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close after each response: bodies without a length end at close

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _send(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, length: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _route(self) -> None:
        path = self.path
        if path == "/page":
            self._send(200, PAGE, {"Content-Type": "text/html; charset=utf-8", "X-Story-Desk": "World"})
        elif path == "/gzip-page":
            self._send(200, GZIP_OK, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        elif path == "/big":
            self._send(200, b"x" * (MAX_BODY + 1), {"Content-Type": "text/html"})
        elif path == "/big-unannounced":
            self._send(200, b"x" * (MAX_BODY * 3), {"Content-Type": "text/html"}, length=False)
        elif path == "/bomb":
            self._send(200, GZIP_BOMB, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path == "/hop1":
            self._send(301, b"", {"Location": "/hop2"})
        elif path == "/hop2":
            self._send(307, b"", {"Location": "/page"})
        elif path == "/missing":
            self._send(404, b"not here", {"Content-Type": "text/plain"})
        elif path == "/busy":
            self._send(503, b"busy", {"Retry-After": "7"})
        elif path.startswith("/redirect?to="):
            self._send(302, b"", {"Location": urllib.parse.unquote(path.split("=", 1)[1])})
        elif path == "/no-content":
            self._send(204)
        elif path == "/gone":
            self._send(410, b"gone", {"Content-Type": "text/plain"})
        elif path == "/partial":
            self._send(206, b"part", {"Content-Type": "text/html"})
        elif path == "/redirect-without-location":
            self._send(302, b"")
        elif path == "/to-private":
            self._send(302, b"", {"Location": "http://10.0.0.1/"})
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.flush()
            for _ in range(20):  # 4 s in all, unless the client hangs up
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self._send(404)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _client(allow: tuple[str, ...], total: float = 5.0) -> GuardedHttpClient:
    return GuardedHttpClient(
        user_agent="wirewatch-test/0",
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        total_timeout_s=total,
        max_body_bytes=MAX_BODY,
        max_redirects=3,
        allow_hosts=allow,
    )


@pytest.fixture
def client(server: str) -> Iterator[GuardedHttpClient]:
    c = _client(allow=(server.split("//", 1)[1],))  # exactly what the test server serves: host:port
    yield c
    c.close()


def test_http_normal_page(server: str, client: GuardedHttpClient) -> None:
    resp = client.get(f"{server}/page")
    assert resp.status == 200
    assert resp.body == PAGE
    assert resp.url == f"{server}/page"
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["x-story-desk"] == "World"
    assert all(name == name.lower() for name in resp.headers)


def test_http_gzip_page_is_decompressed(server: str, client: GuardedHttpClient) -> None:
    assert client.get(f"{server}/gzip-page").body == PAGE


def test_http_follows_redirects_and_reports_final_url(server: str, client: GuardedHttpClient) -> None:
    resp = client.get(f"{server}/hop1")
    assert resp.url == f"{server}/page"
    assert resp.body == PAGE


@pytest.mark.parametrize("path", ["/big", "/big-unannounced"])
def test_http_body_over_cap(server: str, client: GuardedHttpClient, path: str) -> None:
    with pytest.raises(TooLarge):
        client.get(f"{server}{path}")


def test_http_gzip_bomb(server: str, client: GuardedHttpClient) -> None:
    assert len(GZIP_BOMB) < MAX_BODY  # small on the wire
    with pytest.raises(TooLarge):
        client.get(f"{server}/bomb")


def test_http_redirect_loop(server: str, client: GuardedHttpClient) -> None:
    with pytest.raises(PermanentError) as info:
        client.get(f"{server}/loop")
    assert "redirects" in str(info.value)
    assert not isinstance(info.value, BlockedAddress)


def test_http_404_is_permanent(server: str, client: GuardedHttpClient) -> None:
    with pytest.raises(PermanentError) as info:
        client.get(f"{server}/missing")
    assert "404" in str(info.value)


def test_http_503_is_transient_with_retry_after(server: str, client: GuardedHttpClient) -> None:
    with pytest.raises(TransientError) as info:
        client.get(f"{server}/busy")
    assert info.value.retry_after == 7


def test_http_total_timeout_against_trickling_server(server: str) -> None:
    slow = _client(allow=(server.split("//", 1)[1],), total=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError):
            slow.get(f"{server}/slow")
    finally:
        slow.close()
    assert time.monotonic() - started < 3.0


def test_http_loopback_blocked_without_allow_list(server: str) -> None:
    guarded = _client(allow=())
    try:
        with pytest.raises(BlockedAddress):
            guarded.get(f"{server}/page")
        port = server.rsplit(":", 1)[1]
        with pytest.raises(BlockedAddress):
            guarded.get(f"http://localhost:{port}/page")
    finally:
        guarded.close()


def test_http_redirect_to_private_address_blocked(server: str, client: GuardedHttpClient) -> None:
    with pytest.raises(BlockedAddress) as info:
        client.get(f"{server}/to-private")
    assert "10.0.0.1" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http:///nohost"])
def test_http_bad_scheme_or_host_blocked(client: GuardedHttpClient, url: str) -> None:
    with pytest.raises(BlockedAddress):
        client.get(url)


# --- statuses named -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "error", "pattern"),
    [
        ("/no-content", PermanentError, r"^HTTP 204 No Content from .*/no-content: the server sent no body$"),
        ("/gone", Gone, r"^HTTP 410 Gone from "),
        ("/partial", PermanentError, r"^HTTP 206 Partial Content from .*only 200 is taken"),
        ("/redirect-without-location", PermanentError, r"^HTTP 302 Found from .* without a Location header"),
    ],
)
def test_http_odd_statuses_are_named(
    server: str, client: GuardedHttpClient, path: str, error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error) as info:
        client.get(f"{server}{path}")
    assert type(info.value) is error
    assert re.search(pattern, str(info.value)), str(info.value)


# --- the allow-list: one door, not the whole house ---------------------------------------------------------


class Canary:
    """A listening socket that only counts connections: it must never see one."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                return count
            conn.close()
            count += 1


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.sock.close()


def _port(server: str) -> int:
    return int(server.rsplit(":", 1)[1])


def _redirect(server: str, target: str) -> str:
    return f"{server}/redirect?to={urllib.parse.quote(target, safe='')}"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://2130706433:{port}/",  # the address as one number
        "http://0x7f000001:{port}/",  # ... in hex
        "http://127.1:{port}/",  # ... shortened
        "http://localhost:{port}/",  # a name that resolves to it
        "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
    ],
)
def test_allowed_host_port_opens_no_other_port(server: str, canary: Canary, target: str) -> None:
    guarded = _client(allow=(f"127.0.0.1:{_port(server)}",))
    try:
        assert guarded.get(f"{server}/page").body == PAGE  # the door that is listed
        url = target.format(port=canary.port)
        with pytest.raises(BlockedAddress) as direct:
            guarded.get(url)
        assert "not in the allow-list" in str(direct.value)
        with pytest.raises(BlockedRedirect) as info:
            guarded.get(_redirect(server, url))
        assert info.value.reason == "blocked_redirect"
        assert f"to {url} refused" in str(info.value)
        assert f":{canary.port} is not in the allow-list" in str(info.value)
    finally:
        guarded.close()
    assert canary.connections() == 0


def test_bare_host_entry_opens_every_port_of_that_address(server: str, canary: Canary) -> None:
    """``127.0.0.1`` without a port is the old, wide door: documented, and what host:port exists to avoid."""
    guarded = _client(allow=("127.0.0.1",), total=0.5)
    try:
        with pytest.raises(TransientError):  # reached the canary, which never answers
            guarded.get(f"http://127.0.0.1:{canary.port}/")
    finally:
        guarded.close()
    assert canary.connections() == 1


def test_allowed_name_is_resolved_and_pinned(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _port(server)
    asked: list[str] = []
    real = socket.getaddrinfo

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return real("127.0.0.1" if host == "feeds.internal" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    guarded = _client(allow=(f"feeds.internal:{port}",))
    try:
        assert guarded.get(f"http://feeds.internal:{port}/page").body == PAGE
        assert "feeds.internal" in asked  # resolved by the guard, then the checked address dialled
        # the name opens its own port only; the address it resolves to is not thereby listed
        with pytest.raises(BlockedAddress):
            guarded.get(f"http://127.0.0.1:{port}/page")
        with pytest.raises(BlockedAddress):
            guarded.get(f"http://feeds.internal:{port + 1}/page")
    finally:
        guarded.close()


def test_cidr_entry_with_port(server: str, canary: Canary) -> None:
    guarded = _client(allow=(f"127.0.0.0/8:{_port(server)}",))
    try:
        assert guarded.get(f"http://127.0.0.1:{_port(server)}/page").body == PAGE
        with pytest.raises(BlockedAddress):
            guarded.get(f"http://127.0.0.2:{canary.port}/")
    finally:
        guarded.close()
    assert canary.connections() == 0


@pytest.mark.parametrize(
    ("entry", "host", "ip", "port", "admitted"),
    [
        ("127.0.0.1:8080", "127.0.0.1", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "127.0.0.1", "127.0.0.1", 8081, False),
        ("127.0.0.1:8080", "localhost", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "localhost", "127.0.0.2", 8080, False),
        ("127.0.0.1", "x.example", "127.0.0.1", 1, True),
        ("10.0.0.0/8:443", "intra.example", "10.9.8.7", 443, True),
        ("10.0.0.0/8:443", "intra.example", "11.0.0.1", 443, False),
        ("[::1]:8080", "::1", "::1", 8080, True),
        ("[::1]:8080", "::1", "127.0.0.1", 8080, False),
        ("127.0.0.1:80", "x", "::ffff:127.0.0.1", 80, True),
        ("feeds.internal:8080", "FEEDS.internal.", "10.0.0.5", 8080, True),
        ("feeds.internal:8080", "other.internal", "10.0.0.5", 8080, False),
        ("feeds.internal", "feeds.internal", "10.0.0.5", 9, True),
    ],
)
def test_allow_rule_matching(entry: str, host: str, ip: str, port: int, admitted: bool) -> None:
    # The indexed list the HTTP client checks with, with this rule alone or among many other rules.
    assert AllowList([parse_allow_entry(entry)]).admits(host, dialled_address(ip), port) is admitted
    crowd = [parse_allow_entry(f"127.1.{i // 250}.{i % 250 + 1}:9{i % 10}") for i in range(1000)]
    crowd += [parse_allow_entry("192.168.0.0/16:1"), parse_allow_entry("other.internal:1")]
    assert AllowList([*crowd, parse_allow_entry(entry)]).admits(host, dialled_address(ip), port) is admitted


def test_an_allow_list_admits_what_one_of_its_rules_admits_and_nothing_else() -> None:
    allow = AllowList(parse_allow_entry(e) for e in ["127.0.0.1:8080", "127.0.0.1:8081", "10.0.0.0/8:443",
                                                      "feeds.internal", "[fd00::1]"])
    assert allow.admits("x", dialled_address("127.0.0.1"), 8081)
    assert not allow.admits("x", dialled_address("127.0.0.1"), 8082)
    assert allow.admits("intra", dialled_address("10.200.0.1"), 443)
    assert not allow.admits("intra", dialled_address("10.200.0.1"), 80)
    assert allow.admits("Feeds.Internal.", dialled_address("172.16.0.9"), 1234)
    assert allow.admits("x", dialled_address("fd00::1"), 1) and not allow.admits("x", dialled_address("fd00::2"), 1)
    assert not AllowList().admits("localhost", dialled_address("127.0.0.1"), 80)


@pytest.mark.parametrize("entry", ["http://x", "*.example", "2130706433", "x:0", "x:70000", "[::1", "a b", "10.0.0.0/33"])
def test_bad_allow_entries_are_refused_at_start_up(entry: str) -> None:
    with pytest.raises(SettingsError, match="WIREWATCH_ALLOW_HOSTS entry"):
        Settings.from_env({"WIREWATCH_ALLOW_HOSTS": f"127.0.0.1:8080,{entry}"})
    with pytest.raises(SettingsError):
        Settings(allow_hosts=(entry,))


# --- fts_query -------------------------------------------------------------------------------------------

DOCS = {
    1: "NATO drill begins in the Baltic",
    2: "Kremlin warns NATO over eastern flank deployment",
    3: "Kremlin says nothing about the talks",
    4: "Troops move to the eastern flank",
    5: "Talks or war: NATO and the Kremlin disagree",
}


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61')")
    db.executemany("INSERT INTO t (rowid, body) VALUES (?, ?)", DOCS.items())
    yield db
    db.close()


def _match(db: sqlite3.Connection, user_text: str) -> set[int]:
    expr = fts_query(user_text)
    assert expr is not None
    return {row[0] for row in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,))}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NATO Kremlin", '"NATO" AND "Kremlin"'),
        ('"eastern flank" troops', '"eastern flank" AND "troops"'),
        ("NATO -drill", '("NATO") NOT "drill"'),
        ('NATO -"eastern flank"', '("NATO") NOT "eastern flank"'),
        ('NATO OR "Kremlin', '"NATO" AND "OR" AND "Kremlin"'),
        ("title:NATO*", '"title NATO"'),
    ],
)
def test_fts_query_expression(text: str, expected: str) -> None:
    assert fts_query(text) == expected


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("NATO", {1, 2, 5}),
        ("nato kremlin", {2, 5}),
        ("NATO -drill", {2, 5}),
        ("NATO -drill -war", {2}),
        ('"eastern flank"', {2, 4}),
        ('"flank eastern"', set()),
        ('NATO OR "Kremlin', {5}),  # OR is a word here, not an operator
        ("NOT Kremlin", set()),  # likewise NOT
        ("NEAR(NATO Kremlin)", set()),  # "near" is a word; no document has it
        ("Kremlin*", {2, 3, 5}),
        ("body:Kremlin", set()),  # no column filter: "body Kremlin" is a phrase
        ("(Kremlin", {2, 3, 5}),
        ("Kremlin)", {2, 3, 5}),
        ("^Kremlin", {2, 3, 5}),
        ("{body}: troops", set()),  # "body" is a word too, not a column filter
        ("Kremlin's", set()),  # the phrase "kremlin s"
        ('x" OR 1=1 --', set()),
        ("“Kremlin” „warns“", {2}),
        ("naTO   \t  kremLIN", {2, 5}),
    ],
)
def test_fts_query_runs_in_sqlite(fts: sqlite3.Connection, text: str, rows: set[int]) -> None:
    assert _match(fts, text) == rows


@pytest.mark.parametrize(
    "text", ["", "   ", "!!!", '"', '""', "-", "- -- ---", "-drill", '-"eastern flank"', "* ^ : ( ) { }"]
)
def test_fts_query_nothing_to_match(text: str) -> None:
    assert fts_query(text) is None


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"NATO',
        'NATO"',
        '""NATO""',
        "AND",
        "OR OR",
        "a AND",
        "NATO NOT",
        "-NATO NATO",
        "NATO -",
        '"unbalanced "quotes" here',
        "col:",
        "a:b:c",
        "+NATO",
        "NATO+Kremlin",
        "ÄÖÜ straße",
        "北约",
        "😀 NATO",
        "'single' quotes",
        'a"b"c',
        "--NATO",
        "-(NATO)",
    ],
)
def test_fts_query_never_produces_invalid_syntax(fts: sqlite3.Connection, text: str) -> None:
    expr = fts_query(text)
    if expr is not None:
        fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()  # must not raise


def test_name_resolving_to_a_private_address_is_blocked_at_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """The address checked is the address dialled: a name that resolves privately never connects."""
    import socket as socket_module

    real = socket_module.getaddrinfo

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real("10.0.0.5", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket_module, "getaddrinfo", fake)
    client = GuardedHttpClient("t", 1, 1, 2, 1000, 3, allow_hosts=())
    with pytest.raises(BlockedAddress):
        client.get("http://rebind.example/")


def test_resolved_address_is_the_one_dialled(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket as socket_module

    real = socket_module.getaddrinfo
    port = int(server.rsplit(":", 1)[1].split("/")[0])

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "news.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket_module, "getaddrinfo", fake)
    client = GuardedHttpClient("t", 1, 1, 2, 100_000, 3, allow_hosts=(f"127.0.0.1:{port}",))
    resp = client.get(f"http://news.example:{port}/page")
    assert resp.status == 200
