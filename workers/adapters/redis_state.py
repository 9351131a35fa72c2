"""Shared fast state in Redis: stage results, dedupe claims, seen entries, feed state, story traces."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from pipeline.errors import PermanentError, TransientError

KEY = "ww:"
TRACE_LIMIT = 50


def connect(url: str) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs."""
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30, decode_responses=False
    )


def celery_broker_url(url: str) -> str:
    """Celery spells unix sockets ``redis+socket://``; redis-py spells them ``unix://``."""
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    return url


class RedisStageStore:
    """Stage results as JSON with a TTL: they only need to outlive the story's trip down the chain."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._r = client
        self._ttl = ttl_s

    def save(self, stage: str, story_id: str, data: Mapping[str, Any]) -> None:
        self._r.set(f"{KEY}stage:{stage}:{story_id}", json.dumps(data), ex=self._ttl)

    def load(self, stage: str, story_id: str) -> dict[str, Any]:
        raw = self._r.get(f"{KEY}stage:{stage}:{story_id}")
        if raw is None:
            raise PermanentError(f"no {stage} result stored for story {story_id}")
        value: dict[str, Any] = json.loads(raw)
        return value


class RedisDedupeState:
    """Text hash -> first story id, with SET NX so two workers racing on one copy agree."""

    def __init__(self, client: redis.Redis, window_s: int) -> None:
        self._r = client
        self._window = window_s

    def claim(self, text_hash: str, story_id: str) -> str:
        key = f"{KEY}dedupe:exact:{text_hash}"
        try:
            if self._r.set(key, story_id, nx=True, ex=self._window):
                return story_id
            holder = self._r.get(key)
        except redis.ConnectionError as exc:
            raise TransientError(f"redis: {exc}") from exc
        # The key can expire between SET and GET; then this story starts a new cluster.
        return holder.decode() if holder is not None else self.claim(text_hash, story_id)


class RedisEntryLedger:
    """Which feed entries have started down the chain, and what happened to each story since."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def first_sighting(self, story_id: str) -> bool:
        """True exactly once per story id, however many workers or feeds see it."""
        return bool(self._r.set(f"{KEY}seen:{story_id}", int(time.time()), nx=True))

    def forget(self, story_id: str) -> None:
        self._r.delete(f"{KEY}seen:{story_id}")

    def record(self, story_id: str, stage: str, outcome: str, detail: str = "", **extra: Any) -> None:
        event = {"t": time.time(), "stage": stage, "outcome": outcome, "detail": detail, **extra}
        key = f"{KEY}trace:{story_id}"
        pipe = self._r.pipeline()
        pipe.rpush(key, json.dumps(event))
        pipe.ltrim(key, -TRACE_LIMIT, -1)
        pipe.hincrby(f"{KEY}outcomes", f"{stage}:{outcome}", 1)
        pipe.execute()

    def trace(self, story_id: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self._r.lrange(f"{KEY}trace:{story_id}", 0, -1)]

    def outcome_counts(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self._r.hgetall(f"{KEY}outcomes").items()}

    def dead_letter(self, record: Mapping[str, Any]) -> None:
        self._r.rpush(f"{KEY}dead-letter", json.dumps(record))

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self._r.lrange(f"{KEY}dead-letter", 0, -1)]


class RedisFeedState:
    """Per-feed validators and health, one hash per feed."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def get(self, feed_url: str) -> dict[str, str]:
        raw = self._r.hgetall(f"{KEY}feed:{feed_url}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def update(self, feed_url: str, **values: Any) -> None:
        mapping = {k: str(v) for k, v in values.items() if v is not None}
        if mapping:
            self._r.hset(f"{KEY}feed:{feed_url}", mapping=mapping)
            self._r.sadd(f"{KEY}feeds", feed_url)

    def incr(self, feed_url: str, field: str, by: int = 1) -> int:
        return int(self._r.hincrby(f"{KEY}feed:{feed_url}", field, by))

    def all(self) -> dict[str, dict[str, str]]:
        return {u.decode(): self.get(u.decode()) for u in self._r.smembers(f"{KEY}feeds")}
