"""A local HTTP server of hostile and broken feeds and pages, for tests of the fetch path.

Each case sits at its own path. Responses are written by hand so the server can misbehave on
purpose: lie about the charset, inflate, trickle, stall, hang up. Feed templates and article
pages live in ``corpus/`` (``$base`` in them becomes this server's URL); bodies that are big or
are bombs are generated here.
"""

from __future__ import annotations

import functools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

CORPUS = Path(__file__).resolve().parent / "corpus"

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"

# What the pipeline should make of each path. Tests take these lists; the server serves them all.
HEALTHY_FEEDS = ("/ok/rss", "/ok/atom", "/mixed/rss")
# Odd but valid feeds: they must parse, with the right text.
TOLERATED_FEEDS = ("/wrong-charset", "/cyrillic", "/bom", "/cyrillic-declared-utf8")
# Feeds whose good items must arrive while each bad item is rejected with its reason.
ISOLATION_FEEDS = ("/isolated/rss", "/charset-mixed")
# Entity declarations, harmless or not: refused with a named reason.
EXPANSION_FEEDS = ("/billion-laughs", "/quadratic-blowup", "/internal-entities", "/external-entity")
# Redirects from the allowed server to another port of its address, however spelled: the canary
# listening there must see no connection.
CANARY_REDIRECTS = ("/redirect-other-port", "/redirect-other-port-decimal", "/redirect-other-port-name")
# Feeds that must end in a recorded, named failure.
FAILING_FEEDS = (
    "/malformed",
    "/huge-feed",
    "/huge-feed-declared",
    "/gzip-bomb",
    "/gzip-bomb-nested",
    "/redirect-loop",
    "/redirect-private",
    "/redirect-metadata",
    "/redirect-decimal",
    "/redirect-ipv6-loopback",
    "/redirect-file",
    *CANARY_REDIRECTS,
    "/trickle",
    "/trickle-headers",
    "/slow-headers",
    "/html-not-feed",
    "/empty",
    "/204",
    "/404",
    "/410",
    "/500",
    "/429",
    "/reset",
)
ALL_FEEDS = HEALTHY_FEEDS + TOLERATED_FEEDS + ISOLATION_FEEDS + EXPANSION_FEEDS + FAILING_FEEDS

OK_RSS_ARTICLES = tuple(f"/ok/article/{n}" for n in range(1, 6))
OK_ATOM_ARTICLES = tuple(f"/ok/article/{n}" for n in range(6, 11))
MIXED_GOOD_ARTICLES = tuple(f"/mixed/article/{n}" for n in range(1, 4))
MIXED_BAD_ARTICLES = (
    "/article/too-large",
    "/article/pdf",
    "/article/empty",
    "/article/404",
    "/article/slow",
    "/article/redirect-private",
)
HEALTHY_ARTICLES = OK_RSS_ARTICLES + OK_ATOM_ARTICLES + MIXED_GOOD_ARTICLES
ISOLATED_ARTICLES = ("/isolated/article/1", "/isolated/article/2")  # the good items of /isolated/rss
# The bad items of /isolated/rss: (link as written, or "" for none; what the rejection must say).
ISOLATED_BAD_ITEMS = (
    ("http://[fd00::1/isolated/ipv6", "malformed URL"),
    ("javascript:alert(document.cookie)", "not an http(s) URL"),
    ("", "entry without a link"),
    ("$base/gone/isolated-mojibake", "garbled title: it is UTF-8 read as a single-byte charset"),
    ("$base/gone/isolated-replacement", "garbled title: it contains U+FFFD"),
)

HUGE_FEED_BYTES = 20 * 1024 * 1024  # far over any sane cap; the client should stop long before
BOMB_INFLATED_BYTES = 100 * 1024 * 1024  # what the gzip bombs inflate to
QUADRATIC_PAYLOAD = "ha" * 5_000  # a 10 kB entity value ...
QUADRATIC_REFS = 2_000  # ... referenced this many times in the title and again in the description


def _gzip(chunks: Iterable[bytes]) -> bytes:
    """Gzip a stream of chunks without holding the uncompressed whole in memory."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    out = [comp.compress(chunk) for chunk in chunks]
    out.append(comp.flush())
    return b"".join(out)


@functools.cache
def gzip_bomb() -> bytes:
    """About 100 kB on the wire; a feed opening followed by 100 MB of spaces once inflated."""
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>'
    spaces = b" " * (1024 * 1024)
    return _gzip([head, *(spaces for _ in range(BOMB_INFLATED_BYTES // len(spaces)))])


@functools.cache
def nested_gzip_bomb() -> bytes:
    """The bomb gzipped again, served as ``Content-Encoding: gzip, gzip``: a few hundred bytes."""
    return _gzip([gzip_bomb()])


def _huge_feed_chunks(base: str) -> Iterator[bytes]:
    """A well-formed RSS document of ``HUGE_FEED_BYTES``, produced as it is sent."""
    yield (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Everything, Always</title>'
        f"<link>{base}/</link><description>A feed that never ends</description>\n"
    ).encode()
    sent, n = 0, 0
    filler = "The committee met again and agreed to meet again. " * 12
    while sent < HUGE_FEED_BYTES:
        batch = "".join(
            f"<item><title>Update {n + i}</title><link>{base}/gone/huge-{n + i}</link>"
            f"<description>{filler}</description></item>\n"
            for i in range(64)
        ).encode()
        n += 64
        sent += len(batch)
        yield batch
    yield b"</channel></rss>\n"


def _too_large_article_chunks() -> Iterator[bytes]:
    """An HTML page of about 3 MB: a real-looking head, then paragraph after paragraph."""
    yield (
        b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Full text of the grain report</title>'
        b"</head><body><main><article><h1>Full text of the ministry's 400-page grain report</h1>\n"
    )
    para = (
        b"<p>Table 14.3 continues: deliveries by rail and by road, by district, by month, in tonnes, "
        b"with the figures of the previous season for comparison and the footnotes that explain them.</p>\n"
    )
    for _ in range(3 * 1024 * 1024 // len(para)):
        yield para
    yield b"</article></main></body></html>\n"


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    hostile: HostileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up on a trickle or a bomb is the expected end of most of these cases.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return

    @property
    def hostile(self) -> HostileServer:
        return self.server.hostile

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.close_connection = True
        path = self.path.split("?", 1)[0]
        self.hostile.record(path)
        try:
            self.hostile.route(path)(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # the client gave up, as it should

    # --- response helpers ------------------------------------------------------------------------

    def send(self, status: int, body: bytes = b"", content_type: str | None = None, **headers: str) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, status: int, content_type: str, chunks: Iterable[bytes]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            if self.hostile.stopping.is_set():
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", HTML, Location=location)

    def send_corpus(self, name: str, content_type: str, encoding: str = "utf-8", prefix: bytes = b"") -> None:
        self.send(200, prefix + self.hostile.corpus_text(name).encode(encoding), content_type)

    # --- healthy feeds and pages -----------------------------------------------------------------

    def ok_rss(self) -> None:
        self.send_corpus("ok_rss.xml", RSS)

    def ok_atom(self) -> None:
        self.send_corpus("ok_atom.xml", ATOM)

    def mixed_rss(self) -> None:
        self.send_corpus("mixed_rss.xml", RSS)

    def article_page(self, name: str) -> None:
        self.send(200, (CORPUS / "articles" / name).read_bytes(), HTML)

    # --- feeds odd but valid ---------------------------------------------------------------------

    def wrong_charset(self) -> None:
        # The bytes are UTF-8; the header says Latin-1, as misconfigured servers do.
        self.send_corpus("wrong_charset.xml", "application/rss+xml; charset=ISO-8859-1")

    def cyrillic(self) -> None:
        self.send_corpus("cyrillic_1251.xml", "application/rss+xml; charset=windows-1251", encoding="cp1251")

    def bom(self) -> None:
        self.send_corpus("bom.xml", "application/rss+xml", prefix=b"\xef\xbb\xbf")

    def cyrillic_declared_utf8(self) -> None:
        self.send_corpus("cyrillic_declared_utf8.xml", RSS, encoding="cp1251")

    # --- feeds mixing good items with bad ones ---------------------------------------------------

    def isolated_rss(self) -> None:
        self.send_corpus("isolated_rss.xml", RSS)

    def charset_mixed(self) -> None:
        text = self.hostile.corpus_text("charset_mixed.xml")
        head, rest = text.split("<!--cp1251-->", 1)
        middle, tail = rest.split("<!--/cp1251-->", 1)
        self.send(200, head.encode() + middle.encode("cp1251") + tail.encode(), RSS)

    # --- entity expansion ------------------------------------------------------------------------

    def billion_laughs(self) -> None:
        self.send_corpus("billion_laughs.xml", RSS)

    def internal_entities(self) -> None:
        self.send_corpus("internal_entities.xml", RSS)

    def external_entity(self) -> None:
        self.send_corpus("external_entity.xml", RSS)

    def quadratic_blowup(self) -> None:
        text = self.hostile.corpus_text("quadratic_blowup.xml", payload=QUADRATIC_PAYLOAD, refs="&a;" * QUADRATIC_REFS)
        self.send(200, text.encode(), RSS)

    # --- feeds that must fail --------------------------------------------------------------------

    def malformed(self) -> None:
        self.send_corpus("malformed.xml", RSS)

    def huge_feed(self) -> None:
        # No Content-Length: only counting what arrives can stop this one.
        self.send_chunked(200, RSS, _huge_feed_chunks(self.hostile.base_url))

    def huge_feed_declared(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", RSS)
        self.send_header("Content-Length", str(HUGE_FEED_BYTES))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        for chunk in _huge_feed_chunks(self.hostile.base_url):
            chunk = chunk[: HUGE_FEED_BYTES - sent]
            if not chunk or self.hostile.stopping.is_set():
                return
            self.wfile.write(chunk)
            sent += len(chunk)

    def gzip_bomb(self) -> None:
        self.send(200, gzip_bomb(), RSS, Content_Encoding="gzip")

    def gzip_bomb_nested(self) -> None:
        self.send(200, nested_gzip_bomb(), RSS, Content_Encoding="gzip, gzip")

    def redirect_loop(self) -> None:
        self.redirect("/redirect-loop")

    def redirect_private(self) -> None:
        self.redirect("http://10.0.0.1/feed")

    def redirect_metadata(self) -> None:
        self.redirect("http://169.254.169.254/latest/meta-data/")

    def redirect_decimal(self) -> None:
        # 167772161 is 10.0.0.1 written as one number: not an IP literal to a parser, but the resolver takes it.
        self.redirect("http://167772161/feed", status=301)

    def redirect_ipv6_loopback(self) -> None:
        self.redirect(f"http://[::1]:{self.hostile.port}/ok/rss", status=307)

    def redirect_file(self) -> None:
        self.redirect("file:///etc/passwd")

    def redirect_other_port(self) -> None:
        self.redirect(f"http://127.0.0.1:{self.hostile.canary.port}/ok/rss")

    def redirect_other_port_decimal(self) -> None:
        self.redirect(f"http://2130706433:{self.hostile.canary.port}/ok/rss", status=301)

    def redirect_other_port_name(self) -> None:
        self.redirect(f"http://localhost:{self.hostile.canary.port}/ok/rss", status=307)

    def trickle(self) -> None:
        """Prompt headers, then the body one byte a second for as long as the client listens."""
        self.send_response(200)
        self.send_header("Content-Type", RSS)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        body = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Slow news</title>'
        self._drip(body + b" " * 10_000)

    def trickle_headers(self) -> None:
        """The status line and headers themselves one byte a second: the response never starts."""
        self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"a" * 10_000)

    def _drip(self, data: bytes) -> None:
        deadline = time.monotonic() + self.hostile.trickle_cap_s
        for i in range(len(data)):
            if time.monotonic() > deadline:
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            if self.hostile.stopping.wait(1.0):
                return

    def slow_headers(self) -> None:
        if self.hostile.stopping.wait(self.hostile.slow_s):
            return
        self.send_corpus("ok_rss.xml", RSS)

    def html_not_feed(self) -> None:
        self.send_corpus("html_not_feed.html", HTML)

    def empty(self) -> None:
        self.send(200, b"", RSS)

    def status_204(self) -> None:
        self.send_response(204)
        self.send_header("Connection", "close")
        self.end_headers()

    def status_404(self) -> None:
        self.send(404, b"<html><body><h1>Not found</h1></body></html>", HTML)

    def status_410(self) -> None:
        self.send(410, b"<html><body><h1>Gone</h1><p>This feed was retired.</p></body></html>", HTML)

    def status_500(self) -> None:
        self.send(500, b"<html><body><h1>Internal Server Error</h1></body></html>", HTML)

    def status_429(self) -> None:
        self.send(429, b"Too many requests", "text/plain", Retry_After="120")

    def reset(self) -> None:
        """Read the request, then close with a TCP reset instead of an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    # --- bad articles ----------------------------------------------------------------------------

    def article_too_large(self) -> None:
        self.send_chunked(200, HTML, _too_large_article_chunks())

    def article_pdf(self) -> None:
        self.send(200, (CORPUS / "press_release.pdf").read_bytes(), "application/pdf")

    def article_empty(self) -> None:
        self.send(200, b"", HTML)

    def article_slow(self) -> None:
        self.slow_headers()

    def article_redirect_private(self) -> None:
        self.redirect_metadata()


class Canary:
    """A port on the server's address that must stay unreachable: it listens and only counts connections."""

    def __init__(self, host: str) -> None:
        self._sock = socket.socket()
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self.seen = 0

    def connections(self) -> int:
        """Connections made so far (the kernel completes them even before they are accepted)."""
        while True:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                return self.seen
            conn.close()
            self.seen += 1

    def close(self) -> None:
        self._sock.close()


class HostileServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 in a thread: ``start()``, ``url(path)``, ``stop()``.

    ``allow_entry`` is the one allow-list entry that reaches it (``host:port``); ``canary`` listens
    on another port of the same address and must never see a connection.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, trickle_cap_s: float = 60.0, slow_s: float = 10.0):
        self.trickle_cap_s = trickle_cap_s  # a trickle stops by itself after this, if the client never gives up
        self.slow_s = slow_s  # how long slow answers wait before their headers
        self.stopping = threading.Event()
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = _Httpd((host, port), _Handler)
        self._httpd.hostile = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hostile-server", daemon=True)
        self._routes = self._route_table()
        self.canary = Canary(host)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def allow_entry(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> HostileServer:
        gzip_bomb(), nested_gzip_bomb()  # built before any client measures its memory
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # trickles and stalls end at once
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self.canary.connections()  # counted before closing, so tests can still read ``canary.seen``
        self.canary.close()

    def record(self, path: str) -> None:
        with self._lock:
            self.requests[path] = self.requests.get(path, 0) + 1

    def corpus_text(self, name: str, **values: str) -> str:
        return Template((CORPUS / name).read_text(encoding="utf-8")).substitute(base=self.base_url, **values)

    def route(self, path: str) -> Callable[[_Handler], None]:
        handler = self._routes.get(path)
        if handler is not None:
            return handler
        for kind in ("ok", "mixed", "isolated"):
            prefix = f"/{kind}/article/"
            name = f"{kind}-{path.removeprefix(prefix)}.html"
            if path.startswith(prefix) and (CORPUS / "articles" / name).is_file():
                return lambda h: h.article_page(name)
        return _Handler.status_404

    @staticmethod
    def _route_table() -> dict[str, Callable[[_Handler], None]]:
        table: dict[str, Callable[[_Handler], None]] = {
            "/ok/rss": _Handler.ok_rss,
            "/ok/atom": _Handler.ok_atom,
            "/mixed/rss": _Handler.mixed_rss,
            "/204": _Handler.status_204,
            "/404": _Handler.status_404,
            "/isolated/rss": _Handler.isolated_rss,
            "/410": _Handler.status_410,
            "/500": _Handler.status_500,
            "/429": _Handler.status_429,
            "/article/404": _Handler.status_404,
        }
        for path in TOLERATED_FEEDS + ISOLATION_FEEDS + EXPANSION_FEEDS + FAILING_FEEDS + MIXED_BAD_ARTICLES:
            name = path.strip("/").replace("/", "_").replace("-", "_")
            if path not in table:
                table[path] = getattr(_Handler, name)
        return table
