"""Learned outlet boilerplate in Redis: per outlet and paragraph key, the distinct stories it was seen on.

Keys (all under ``ww:bp:``), each with a rolling expiry so a tail an outlet dropped is forgotten:
- ``s:{outlet}:{key}``  set of story ids (capped: past the cap the count is evidence enough)
- ``o:{key}``           set of outlets that carried the paragraph (more than one: wire copy)
- ``n:{outlet}``        sorted set key -> distinct stories, for ``wirewatch outlets``
- ``t:{key}``           the paragraph's text, for display
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from pipeline.ports import Evidence

PREFIX = "ww:bp:"
STORY_CAP = 50  # stories remembered per paragraph; the decision needs a handful
OUTLET_CAP = 10
TTL_S = 60 * 86_400
MAX_KEYS = 200  # candidate paragraphs recorded per story


class RedisBoilerplateMemory:
    """BoilerplateMemory on Redis: one round trip to read, one to record."""

    def __init__(self, client: redis.Redis, ttl_s: int = TTL_S) -> None:
        self._r = client
        self._ttl = ttl_s

    def evidence(self, outlet: str, keys: Iterable[str], excluding: str | None = None) -> dict[str, Evidence]:
        keys = list(dict.fromkeys(keys))[:MAX_KEYS]
        if not keys:
            return {}
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            pipe.scard(f"{PREFIX}s:{outlet}:{key}")
            pipe.scard(f"{PREFIX}o:{key}")
            if excluding is not None:
                pipe.sismember(f"{PREFIX}s:{outlet}:{key}", excluding)
        counts = pipe.execute()
        step = 2 if excluding is None else 3
        out: dict[str, Evidence] = {}
        for i, key in enumerate(keys):
            stories, outlets = int(counts[step * i]), int(counts[step * i + 1])
            if excluding is not None and counts[step * i + 2]:
                stories -= 1  # its own sighting, from before
            if stories:
                out[key] = Evidence(stories, outlets)
        return out

    def record(self, outlet: str, story_id: str, paragraphs: Mapping[str, str]) -> None:
        items = list(paragraphs.items())[:MAX_KEYS]
        if not items:
            return
        pipe = self._r.pipeline(transaction=False)
        for key, _text in items:
            pipe.scard(f"{PREFIX}s:{outlet}:{key}")
            pipe.scard(f"{PREFIX}o:{key}")
            pipe.sismember(f"{PREFIX}s:{outlet}:{key}", story_id)
        sizes = pipe.execute()
        pipe = self._r.pipeline(transaction=False)
        for i, (key, text) in enumerate(items):
            stories, outlets = f"{PREFIX}s:{outlet}:{key}", f"{PREFIX}o:{key}"
            seen, carried, counted = sizes[3 * i], sizes[3 * i + 1], bool(sizes[3 * i + 2])
            if seen < STORY_CAP:
                pipe.sadd(stories, story_id)  # a redelivered story is counted once
            pipe.expire(stories, self._ttl)
            if carried < OUTLET_CAP:
                pipe.sadd(outlets, outlet)
            pipe.expire(outlets, self._ttl)
            total = seen if counted else min(seen + 1, STORY_CAP)
            if total >= 2:  # seen on another story too: worth a line in the per-outlet view
                pipe.zadd(f"{PREFIX}n:{outlet}", {key: total})
                pipe.expire(f"{PREFIX}n:{outlet}", self._ttl)
                pipe.set(f"{PREFIX}t:{key}", text[:500], ex=self._ttl)
        pipe.sadd(f"{PREFIX}outlets", outlet)
        pipe.execute()

    def learned(self, min_stories: int, max_outlets: int, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
        """Per outlet, the paragraphs seen on at least ``min_stories`` stories (most repeated first)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for raw in sorted(self._r.smembers(f"{PREFIX}outlets")):
            outlet = raw.decode() if isinstance(raw, bytes) else str(raw)
            rows = []
            for key_raw, _score in self._r.zrevrange(f"{PREFIX}n:{outlet}", 0, limit * 5, withscores=True):
                key = key_raw.decode() if isinstance(key_raw, bytes) else str(key_raw)
                ev = self.evidence(outlet, [key]).get(key)
                if ev is None or ev.stories < min_stories:
                    continue
                text = self._r.get(f"{PREFIX}t:{key}")
                rows.append({"key": key, "stories": ev.stories, "outlets": ev.outlets,
                             "removed": ev.outlets <= max_outlets,
                             "text": text.decode() if isinstance(text, bytes) else str(text or "")})
                if len(rows) >= limit:
                    break
            if rows:
                out[outlet] = rows
        return out
