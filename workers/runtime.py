"""The one place that wires adapters to stages: real services when configured, embedded ones if not.

Everything is created lazily and once per process (after a worker forks), never at import time.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import yaml

from pipeline.boilerplate import BoilerplateOptions
from pipeline.claims import load_cues
from pipeline.clean import CleanOptions, load_rules
from pipeline.dedupe import DedupeOptions, WireRule
from pipeline.extract import ExtractOptions, add_gazetteer, load_entity_rules, load_gazetteer, load_topic
from pipeline.models import Feed
from pipeline.polling import PollPolicy
from pipeline.ports import StoryIndex
from workers.adapters.batch_line import RedisBatchLine
from workers.adapters.frontier import RedisFrontier
from workers.adapters.http import GuardedHttpClient
from workers.adapters.raw_store import FileRawStore
from workers.adapters.redis_boilerplate import RedisBoilerplateMemory
from workers.adapters.redis_state import (
    RedisDedupeState,
    RedisEntryLedger,
    RedisFeedState,
    RedisStageStore,
    connect,
)
from workers.indexing import BatchLimits, IndexQueue
from workers.settings import Settings

log = logging.getLogger(__name__)

FEEDS_PROBLEM_KEY = "ww:config:feeds_problem"  # why the last edit of feeds.yaml was refused


def embedded_redis_url(settings: Settings) -> str:
    return f"unix://{(settings.data_dir / 'redis' / 'redis.sock').resolve()}"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_feeds(path: Path) -> list[Feed]:
    data = load_yaml(path) or {}
    feeds = []
    for item in data.get("feeds", []):
        feeds.append(
            Feed(
                url=str(item["url"]),
                name=str(item.get("name", item["url"])),
                interval_s=int(item.get("interval_s", data.get("default_interval_s", 300))),
            )
        )
    return feeds


class Runtime:
    """Adapters and options for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._feeds_read: tuple[tuple[int, int, int] | None, list[Feed]] | None = None

    @functools.cached_property
    def redis_url(self) -> str:
        return self.settings.redis_url or embedded_redis_url(self.settings)

    @functools.cached_property
    def redis(self) -> Any:
        return connect(self.redis_url, self.settings.redis_ca_certs)

    @functools.cached_property
    def stages(self) -> RedisStageStore:
        return RedisStageStore(self.redis, self.settings.stage_ttl_s)

    @functools.cached_property
    def dedupe_options(self) -> DedupeOptions:
        return DedupeOptions()

    @functools.cached_property
    def dedupe_state(self) -> RedisDedupeState:
        return RedisDedupeState(self.redis, self.settings.dedupe_window_s, self.dedupe_options)

    @functools.cached_property
    def wire_rules(self) -> tuple[WireRule, ...]:
        spec = load_yaml(self.settings.config_dir / "wires.yaml") or {}
        return tuple(WireRule(str(w["name"]), re.compile(str(w["pattern"]))) for w in spec.get("wires", []))

    @functools.cached_property
    def ledger(self) -> RedisEntryLedger:
        return RedisEntryLedger(self.redis)

    @functools.cached_property
    def feed_state(self) -> RedisFeedState:
        return RedisFeedState(self.redis)

    @functools.cached_property
    def index_queue(self) -> IndexQueue:
        return IndexQueue(self.redis)

    @functools.cached_property
    def batch_limits(self) -> BatchLimits:
        return BatchLimits()

    @functools.cached_property
    def frontier(self) -> RedisFrontier:
        s = self.settings
        # A poll lets live stories' fetches go first for half the 10% its shortest interval may slip.
        return RedisFrontier(self.redis, s.host_max_concurrency, s.host_min_gap_s, lease_s=s.total_timeout_s * 4,
                             poll_slack_s=0.05 * s.poll_min_interval_s)

    @functools.cached_property
    def process_children(self) -> int:
        return self.settings.worker_concurrency or os.cpu_count() or 1

    @functools.cached_property
    def extract_line(self) -> RedisBatchLine:
        """Stories waiting for extraction: one batch task per process child at most."""
        return RedisBatchLine(self.redis, "extract", self.process_children, self.settings.extract_max_batch)

    @functools.cached_property
    def poll_policy(self) -> PollPolicy:
        s = self.settings
        return PollPolicy(
            min_interval_s=s.poll_min_interval_s,
            max_interval_s=s.poll_max_interval_s,
            backoff_base_s=max(s.poll_min_interval_s, 1.0),
        )

    @functools.cached_property
    def raw_store(self) -> FileRawStore:
        return FileRawStore(self.settings.data_dir / "raw")

    @functools.cached_property
    def http(self) -> GuardedHttpClient:
        s = self.settings
        return GuardedHttpClient(
            s.user_agent,
            s.connect_timeout_s,
            s.read_timeout_s,
            s.total_timeout_s,
            s.max_body_bytes,
            s.max_redirects,
            s.allow_hosts,
        )

    @functools.cached_property
    def index(self) -> StoryIndex:
        index = self.unprepared_index
        index.ensure_ready()
        return index

    @functools.cached_property
    def search_index(self) -> StoryIndex:
        """The index as the search side sees it: with the read-only account when one is configured."""
        s = self.settings
        if s.embedded_index or not s.elasticsearch_read_username:
            return self.index
        return self._elasticsearch(s.elasticsearch_read_username, s.elasticsearch_read_password, "")

    def _elasticsearch(self, username: str, password: str, api_key: str) -> StoryIndex:
        from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

        s = self.settings
        client = make_client(s.elasticsearch_url, username, password, api_key, s.elasticsearch_ca_certs)
        return ElasticsearchIndex(client, s.config_dir / "index-template.json", s.index_prefix)

    @functools.cached_property
    def unprepared_index(self) -> StoryIndex:
        """The index adapter before ``ensure_ready`` (for migrations)."""
        s = self.settings
        if s.embedded_index:
            from workers.adapters.sqlite_index import SqliteIndex

            index: StoryIndex = SqliteIndex(s.data_dir / "index" / "stories.sqlite")
        else:
            index = self._elasticsearch(s.elasticsearch_username, s.elasticsearch_password, s.elasticsearch_api_key)
        return index

    @functools.cached_property
    def clean_options(self) -> CleanOptions:
        spec = load_yaml(self.settings.config_dir / "boilerplate.yaml") or {}
        return CleanOptions(rules=load_rules(spec.get("rules", [])))

    @functools.cached_property
    def boilerplate(self) -> RedisBoilerplateMemory:
        return RedisBoilerplateMemory(self.redis)

    @functools.cached_property
    def boilerplate_options(self) -> BoilerplateOptions:
        return BoilerplateOptions()

    @functools.cached_property
    def extract_options(self) -> ExtractOptions:
        cfg = self.settings.config_dir
        spec = load_yaml(cfg / "gazetteer.yaml") or {}
        gazetteer = load_gazetteer(spec.get("entities", []))
        cues = load_yaml(cfg / "cues.yaml") if (cfg / "cues.yaml").exists() else {}
        return ExtractOptions(
            gazetteer=gazetteer,
            topic=load_topic(load_yaml(cfg / "topic.yaml")),
            cues=load_cues(cues or {}),
            entity_rules=load_entity_rules(spec.get("rules") or {}, gazetteer),
        )

    @functools.cached_property
    def nlp(self) -> Any:
        import spacy

        log.info("loading spaCy model %s", self.settings.spacy_model)
        nlp = spacy.load(self.settings.spacy_model, exclude=["lemmatizer"])
        return add_gazetteer(nlp, self.extract_options.gazetteer)

    def preload(self) -> None:
        """Load what the process stages need (spaCy, rules) now rather than in the first task."""
        _ = (self.nlp, self.clean_options, self.extract_options, self.dedupe_state, self.stages)

    @property
    def feeds(self) -> list[Feed]:
        """feeds.yaml as it is now: read again whenever the file changes, so an edit reaches a running
        deployment at the next dispatch tick. An edit that cannot be read keeps the last good feed set
        and is logged (and kept in Redis for ``wirewatch status``); a file bad from the start is an error."""
        path = self.settings.feeds_path
        try:
            st = path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if self._feeds_read is not None and self._feeds_read[0] == stamp:
            return self._feeds_read[1]
        try:
            feeds = load_feeds(path)
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
            if self._feeds_read is None:
                raise
            log.error("feeds file %s cannot be read (%s: %s); keeping the last good %d feeds",
                      path, type(exc).__name__, exc, len(self._feeds_read[1]))
            self._note_feeds_problem(f"{type(exc).__name__}: {exc}"[:500])
            self._feeds_read = (stamp, self._feeds_read[1])
            return self._feeds_read[1]
        if self._feeds_read is not None:
            self._note_feeds_problem(None)
        self._feeds_read = (stamp, feeds)
        return feeds

    def _note_feeds_problem(self, problem: str | None) -> None:
        """Keep (or clear) the reason the feeds file was last refused, where every process can see it."""
        try:
            if problem is None:
                self.redis.delete(FEEDS_PROBLEM_KEY)
            else:
                self.redis.hset(FEEDS_PROBLEM_KEY, mapping={"problem": problem, "path": str(self.settings.feeds_path),
                                                            "at": time.time()})
        except Exception as exc:  # noqa: BLE001 - the log line above already says it
            log.warning("could not record the feeds file problem: %s", exc)

    # --- watches ---------------------------------------------------------------------------------

    @functools.cached_property
    def public_url(self) -> str:
        s = self.settings
        return (s.public_url or f"http://{s.api_host}:{s.api_port}").rstrip("/")

    @functools.cached_property
    def watch_store(self) -> Any:
        from workers.watches import WatchStore

        return WatchStore(self.redis)

    @functools.cached_property
    def watch_log(self) -> Any:
        from workers.watches import WatchLog

        return WatchLog(self.redis, self.settings.watch_events_kept)

    @functools.cached_property
    def watch_index(self) -> Any:
        """The percolator on Elasticsearch when the server has it, else the same semantics in process."""
        from workers.adapters.percolator import ElasticsearchWatchIndex, EmbeddedWatchIndex

        s = self.settings
        if s.embedded_index:
            return EmbeddedWatchIndex()
        from workers.adapters.elasticsearch_index import make_client

        client = make_client(s.elasticsearch_url, s.elasticsearch_username, s.elasticsearch_password,
                             s.elasticsearch_api_key, s.elasticsearch_ca_certs)
        return ElasticsearchWatchIndex(client, s.config_dir / "index-template.json", s.index_prefix)

    @functools.cached_property
    def watch_matcher(self) -> Any:
        from workers.watches import Novelty, WatchMatcher

        return WatchMatcher(self.watch_store, self.watch_index, Novelty(self.redis, self.settings.seen_ttl_s),
                            self.watch_log, self.public_url)

    @functools.cached_property
    def webhook_client(self) -> GuardedHttpClient:
        s = self.settings
        t = s.watch_webhook_timeout_s
        return GuardedHttpClient(s.user_agent, t, t, t * 2, 64 * 1024, 0, s.allow_hosts)


@functools.cache
def current() -> Runtime:
    """This process's runtime, from the environment read once."""
    return Runtime(Settings.from_env())
