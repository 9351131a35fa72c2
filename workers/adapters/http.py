"""Our own HTTP client: timeouts, a cap on the decompressed body, a redirect limit, an address guard."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from pipeline.errors import BlockedAddress, PermanentError, TooLarge, TransientError
from pipeline.ports import HttpResponse

REDIRECTS = (301, 302, 303, 307, 308)


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


def address_allowed(ip: str) -> bool:
    """Public unicast addresses only: no loopback, private, link-local (cloud metadata) or reserved."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    # is_global also excludes shared address space (100.64.0.0/10), documentation and benchmark ranges.
    return addr.is_global and not addr.is_multicast


class PinnedBackend(httpcore.SyncBackend):
    """Resolves a host once, checks every address, and connects to a checked one.

    Checking a name and then letting the connection resolve it again would let DNS answer
    differently the second time (DNS rebinding); here the address checked is the one dialled.
    TLS still verifies and sends the host name: httpcore starts TLS with the URL's host.
    """

    def __init__(self, allow: frozenset[str]) -> None:
        self._allow = allow

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        if host.lower() in self._allow:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        for ip in addresses:
            if ip not in self._allow and not address_allowed(ip):
                raise BlockedAddress(f"{host} resolves to non-public address {ip}")
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


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
        self._allow = frozenset(h.lower() for h in allow_hosts)
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
        )
        self._total = total_timeout_s
        self._max_body = max_body_bytes
        self._max_redirects = max_redirects

    def close(self) -> None:
        self._client.close()

    def check_url(self, url: str) -> None:
        """Scheme and literal addresses; names are resolved and checked when connecting (PinnedBackend)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedAddress(f"scheme {parts.scheme!r} is not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            raise BlockedAddress(f"no host in {url!r}")
        if host in self._allow:
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return
        if not address_allowed(str(literal)):
            raise BlockedAddress(f"{host} is a non-public address")

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        deadline = time.monotonic() + self._total
        current = url
        for _hop in range(self._max_redirects + 1):
            self.check_url(current)
            try:
                with self._client.stream("GET", current, headers=dict(headers or {})) as resp:
                    if resp.status_code in REDIRECTS and "location" in resp.headers:
                        current = urljoin(current, resp.headers["location"])
                        continue
                    body = self._read_capped(resp, deadline)
                    status = resp.status_code
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            except httpx.TimeoutException as exc:
                raise TransientError(f"timeout fetching {current}: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"network error fetching {current}: {exc}") from exc
            except httpx.DecodingError as exc:
                raise PermanentError(f"undecodable body from {current}: {exc}") from exc
            if status in (429, 503) or status >= 500:
                raise TransientError(
                    f"HTTP {status} from {current}", retry_after=_retry_after(resp_headers.get("retry-after"))
                )
            if status >= 400:
                raise PermanentError(f"HTTP {status} from {current}")
            return HttpResponse(url=current, status=status, headers=resp_headers, body=body)
        raise PermanentError(f"more than {self._max_redirects} redirects starting at {url}")

    def _read_capped(self, resp: httpx.Response, deadline: float) -> bytes:
        declared = resp.headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > self._max_body
            and not resp.headers.get("content-encoding")
        ):
            raise TooLarge(f"declared {declared} bytes, cap is {self._max_body}")
        chunks: list[bytes] = []
        size = 0
        # iter_bytes yields decompressed data, so the cap holds against gzip and deflate bombs.
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > self._max_body:
                raise TooLarge(f"body exceeds {self._max_body} bytes after decompression")
            if time.monotonic() > deadline:
                raise TransientError(f"total time limit of {self._total}s exceeded")
            chunks.append(chunk)
        return b"".join(chunks)
