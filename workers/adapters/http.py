"""Our own HTTP client: timeouts, a cap on the decompressed body, a redirect limit, an address guard."""

from __future__ import annotations

import http
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from pipeline.errors import (
    BadContent,
    BlockedAddress,
    BlockedRedirect,
    Gone,
    PermanentError,
    TooLarge,
    TransientError,
)
from pipeline.ports import HttpResponse
from workers.settings import AllowList, dialled_address, parse_allow_entry

REDIRECTS = (301, 302, 303, 307, 308)
TAKEN = (200, 203, 304)  # a body to read, or "not modified" for a conditional GET


def _status_name(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def address_allowed(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public unicast addresses only: no loopback, private, link-local (cloud metadata) or reserved."""
    addr = dialled_address(ip) if isinstance(ip, str) else ip
    # is_global also excludes shared address space (100.64.0.0/10), documentation and benchmark ranges.
    return addr.is_global and not addr.is_multicast


_deadline = threading.local()  # the monotonic time the current request must finish by


def _left(timeout: float | None) -> float:
    """The socket timeout for the next step: never past the request's overall deadline."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout if timeout is not None else 30.0
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("total time limit exceeded")
    return min(timeout, left) if timeout is not None else left


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write stops at the request's total deadline.

    A read timeout alone lets a server that sends one byte (of headers or body) per second hold a
    worker for as long as it likes.
    """

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.SyncBackend):
    """Resolves a host once, checks every address, and connects to a checked one.

    Checking a name and then letting the connection resolve it again would let DNS answer
    differently the second time (DNS rebinding); here the address checked is the one dialled.
    Allow-listed names are resolved and pinned the same way: the list opens a door for a
    (name or address, port), never for whatever a name or another port leads to.
    TLS still verifies and sends the host name: httpcore starts TLS with the URL's host.
    """

    def __init__(self, allow: AllowList) -> None:
        self._allow = allow

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        for ip in addresses:
            guard_address(host, ip, port, self._allow)
        return DeadlineStream(super().connect_tcp(addresses[0], port, _left(timeout), local_address, socket_options))


def guard_address(host: str, ip: str, port: int, allow: AllowList) -> None:
    """Refuse a non-public ``ip``:``port`` (reached through ``host``) that no allow-list entry admits."""
    addr = dialled_address(ip)
    if address_allowed(addr) or allow.admits(host, addr, port):
        return
    shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    via = "" if host.strip("[]") == ip else f"{host} resolves to "
    raise BlockedAddress(f"{via}non-public address {shown} is not in the allow-list")


class GuardedHttpClient:
    """Implements ``HttpFetcher``; every hop of a redirect chain is checked again."""

    def __init__(
        self,
        user_agent: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        total_timeout_s: float,
        max_body_bytes: int,
        max_redirects: int,
        allow_hosts: Iterable[str] = (),
    ) -> None:
        self._allow = AllowList(parse_allow_entry(entry) for entry in allow_hosts)
        transport = httpx.HTTPTransport(retries=0)
        # Same pool as httpx builds, with our resolver-and-guard as the network backend.
        transport._pool = httpcore.ConnectionPool(  # noqa: SLF001
            ssl_context=httpx.create_ssl_context(),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=30.0,
            network_backend=PinnedBackend(self._allow),
        )
        self._client = httpx.Client(
            transport=transport,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=connect_timeout_s
            ),
            follow_redirects=False,
            trust_env=False,
            # Redirects are ours to follow: taken before httpx parses the Location itself, so a
            # target it cannot parse is still refused by the guard and named, not a network error.
            event_hooks={"response": [_take_redirect]},
        )
        self._total = total_timeout_s
        self._max_body = max_body_bytes
        self._max_redirects = max_redirects

    def close(self) -> None:
        self._client.close()

    def check_url(self, url: str) -> None:
        """Scheme and literal addresses; names are resolved and checked when connecting (PinnedBackend)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise BlockedAddress(f"malformed URL {url[:200]!r}: {exc}") from exc
        if parts.scheme not in ("http", "https"):
            raise BlockedAddress(f"scheme {parts.scheme!r} is not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            raise BlockedAddress(f"no host in {url!r}")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return
        guard_address(host, str(literal), port or (443 if parts.scheme == "https" else 80), self._allow)

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        deadline = time.monotonic() + self._total
        _deadline.at = deadline
        try:
            return self._get(url, headers, deadline)
        finally:
            _deadline.at = None

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST a body (webhooks): the status, with the same address guard and deadline; no redirects.

        Network errors and 429/5xx are transient; other 4xx permanent for this body."""
        self.check_url(url)
        deadline = time.monotonic() + self._total
        _deadline.at = deadline
        try:
            with self._client.stream("POST", url, content=body, headers=dict(headers)) as resp:
                for _chunk in resp.iter_raw():  # drain a little of the answer; it is not used
                    if time.monotonic() > deadline:
                        break
                status = resp.status_code
                retry_after = _retry_after(resp.headers.get("retry-after"))
        except httpx.TimeoutException as exc:
            raise TransientError(f"timeout posting to {url}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"network error posting to {url}: {exc}") from exc
        finally:
            _deadline.at = None
        if status == 429 or status >= 500:
            raise TransientError(f"HTTP {status} from {url}", retry_after=retry_after)
        if status >= 300:
            raise PermanentError(f"HTTP {status} from {url}")
        return status

    def _get(self, url: str, headers: Mapping[str, str] | None, deadline: float) -> HttpResponse:
        current, previous = url, ""
        for _hop in range(self._max_redirects + 1):
            try:
                return self._hop(current, headers, deadline)
            except _Redirect as hop:
                previous, current = current, hop.location
            except BlockedAddress as exc:
                if not previous or isinstance(exc, BlockedRedirect):
                    raise
                # A content error here would hide that the feed tried to send us somewhere internal.
                raise BlockedRedirect(f"redirect from {previous} to {current} refused: {exc}") from exc
        raise PermanentError(f"more than {self._max_redirects} redirects starting at {url}")

    def _hop(self, current: str, headers: Mapping[str, str] | None, deadline: float) -> HttpResponse:
        """One request; a redirect comes back as ``_Redirect`` so every hop passes the guard again."""
        self.check_url(current)
        try:
            with self._client.stream("GET", current, headers=dict(headers or {})) as resp:
                body = self._read_capped(resp, deadline)
                status = resp.status_code
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
        except httpx.TimeoutException as exc:
            if time.monotonic() >= deadline - 0.05:
                raise TransientError(f"total time limit of {self._total}s exceeded fetching {current}") from exc
            raise TransientError(f"timeout fetching {current}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"network error fetching {current}: {exc}") from exc
        except httpx.DecodingError as exc:
            raise PermanentError(f"undecodable body from {current}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise BlockedAddress(f"malformed URL {current[:200]!r}: {exc}") from exc
        if status in (429, 503) or status >= 500:
            raise TransientError(
                f"HTTP {status} from {current}", retry_after=_retry_after(resp_headers.get("retry-after"))
            )
        if status == 410:
            raise Gone(f"HTTP 410 Gone from {current}: removed by its publisher")
        if status >= 400:
            raise PermanentError(f"HTTP {status} from {current}")
        if status == 204:
            raise PermanentError(f"HTTP 204 No Content from {current}: the server sent no body")
        if status in REDIRECTS:
            raise PermanentError(f"HTTP {_status_name(status)} from {current} without a Location header")
        if status not in TAKEN:
            raise PermanentError(f"HTTP {_status_name(status)} from {current}: only 200 is taken")
        return HttpResponse(url=current, status=status, headers=resp_headers, body=body)

    def _read_capped(self, resp: httpx.Response, deadline: float) -> bytes:
        """The body, decompressed by us with a hard cap: no more than the cap is ever inflated."""
        encodings = [e.strip().lower() for e in resp.headers.get("content-encoding", "").split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1:
            raise BadContent(f"more than one content encoding ({', '.join(encodings)}) is refused")
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_body and not encodings:
            raise TooLarge(f"declared {declared} bytes, cap is {self._max_body}")
        inflater = _inflater(encodings[0]) if encodings else None
        chunks: list[bytes] = []
        size = 0
        for raw in resp.iter_raw():
            if time.monotonic() > deadline:
                raise TransientError(f"total time limit of {self._total}s exceeded")
            data = inflater.feed(raw, self._max_body - size + 1) if inflater else raw
            size += len(data)
            if size > self._max_body:
                raise TooLarge(f"body exceeds {self._max_body} bytes after decompression")
            chunks.append(data)
        return b"".join(chunks)


class _Redirect(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _take_redirect(response: httpx.Response) -> None:
    if response.status_code in REDIRECTS and "location" in response.headers:
        raise _Redirect(urljoin(str(response.request.url), response.headers["location"]))


class _Inflater:
    """zlib decompression that never produces more than asked for (gzip and deflate bombs)."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self._raw_deflate = wbits == zlib.MAX_WBITS  # some servers send raw deflate for "deflate"

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._d.decompress(data, limit)
        except zlib.error:
            if not self._raw_deflate:
                raise PermanentError("corrupt compressed body") from None
            self._d, self._raw_deflate = zlib.decompressobj(-zlib.MAX_WBITS), False
            out = self._d.decompress(data, limit)
        # Input left over means the output hit the limit: the caller's cap check refuses the body.
        if self._d.unconsumed_tail:
            return out + b"\0"
        return out


def _inflater(encoding: str) -> _Inflater:
    if encoding in ("gzip", "x-gzip"):
        return _Inflater(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Inflater(zlib.MAX_WBITS)
    raise BadContent(f"content encoding {encoding!r} is not supported")
