"""Shared fast state in Redis: stage results, dedupe claims, seen entries, feed state, story traces."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import redis

from pipeline.dedupe import DedupeOptions
from pipeline.errors import PermanentError, TransientError
from pipeline.fetch import FeedProblem
from pipeline.ports import Assignment

KEY = "ww:"
TRACE_LIMIT = 50
_STORY_ID = re.compile(r"[0-9a-f]{32}")


def connect(url: str, ca_certs: str = "") -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` (TLS, verified against ``ca_certs``) or ``unix://`` URLs."""
    tls = {"ssl_ca_certs": ca_certs, "ssl_cert_reqs": "required"} if url.startswith("rediss://") and ca_certs else {}
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30, decode_responses=False, **tls
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


# Atomic check-and-insert for dedupe. Keys (all under ARGV[1], the prefix):
#   b:<epoch>:<band>  hash: 2-byte bucket -> packed entries (2-byte remainder, 4-byte story number)
#   r:<epoch>         hash: 4-byte story number -> id(16) cluster(16) text hash(8) size(4) signature
#   i:<epoch>         hash: story id(16) -> 4-byte story number (revisions keep their cluster)
#   c:<cluster>       string: the cluster's canonical story id(16), when a better copy of its page took
#                     the place of the story the cluster is named after (with the window's expiry)
#   seq               counter of story numbers
# Epochs are slices of the window; a whole epoch's keys expire together, so the window costs no
# per-story expiry. ARGV[13] (may be empty) holds the ids(16 each) of worse copies of the same page
# the story displaced: their records leave the window and the story takes the place of the one found
# (its cluster; its role as canonical). Returns {match, cluster id, matched id, jaccard, containment,
# canonical id of the cluster}.
DEDUPE_LUA = """
local p, sid = ARGV[1], ARGV[2]
local epoch, live, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local thash, size, sig, bands = ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local cmin, jmin, maxc = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local displaced = ARGV[13] or ''
local nperm = #sig / 2

local function canonical_of(cluster)
  local key = p .. 'c:' .. cluster
  local found = redis.call('GET', key)
  if found then
    redis.call('EXPIRE', key, ttl)
    return found
  end
  return cluster
end

local function find(story)
  for e = epoch, epoch - live + 1, -1 do
    local no = redis.call('HGET', p .. 'i:' .. e, story)
    if no then
      local rec = redis.call('HGET', p .. 'r:' .. e, no)
      if rec then return rec, e, no end
    end
  end
  return nil
end

local function score(rec)
  local osize = struct.unpack('>I4', string.sub(rec, 41, 44))
  local osig = string.sub(rec, 45)
  local same = 0
  for q = 1, nperm do
    if string.sub(sig, 2 * q - 1, 2 * q) == string.sub(osig, 2 * q - 1, 2 * q) then same = same + 1 end
  end
  local j = same / nperm
  local c = j * (size + osize) / (1 + j) / math.max(1, math.min(size, osize))
  if c > 1 then c = 1 end
  if string.sub(rec, 33, 40) == thash then j, c = 1, 1 end
  return j, c
end

local own = find(sid)
if own then
  local cluster = string.sub(own, 17, 32)
  return {'revision', cluster, sid, '1', '1', canonical_of(cluster)}
end

local heir, heir_canonical = nil, false
for d = 1, #displaced / 16 do
  local story = string.sub(displaced, d * 16 - 15, d * 16)
  local rec, e, no = find(story)
  if rec then
    redis.call('HDEL', p .. 'r:' .. e, no)
    redis.call('HDEL', p .. 'i:' .. e, story)
    local cluster = string.sub(rec, 17, 32)
    local was_canonical = canonical_of(cluster) == story
    if heir == nil or (was_canonical and not heir_canonical) then
      heir, heir_canonical = cluster, was_canonical
    end
  end
end

local hits, where = {}, {}
for e = epoch, epoch - live + 1, -1 do
  for b = 0, #bands / 4 - 1 do
    local bucket = string.sub(bands, b * 4 + 1, b * 4 + 2)
    local rem = string.sub(bands, b * 4 + 3, b * 4 + 4)
    local v = redis.call('HGET', p .. 'b:' .. e .. ':' .. b, bucket)
    if v then
      local pos = 1
      while true do
        local i = string.find(v, rem, pos, true)
        if not i then break end
        if (i - 1) % 6 == 0 then
          local no = string.sub(v, i + 2, i + 5)
          local k = e .. ':' .. no
          hits[k] = (hits[k] or 0) + 1
          where[k] = {e, no}
          pos = i + 6
        else
          pos = i + 1
        end
      end
    end
  end
end

local ranked = {}
for k, n in pairs(hits) do table.insert(ranked, {k, n}) end
table.sort(ranked, function(a, b) return a[2] > b[2] end)

local best, bestc, bestj = nil, -1, 0
for idx = 1, math.min(#ranked, maxc) do
  local e, no = where[ranked[idx][1]][1], where[ranked[idx][1]][2]
  local rec = redis.call('HGET', p .. 'r:' .. e, no)
  if rec then
    local j, c = score(rec)
    if c >= cmin and j >= jmin and (c > bestc or (c == bestc and j > bestj)) then
      best, bestc, bestj = rec, c, j
    end
  end
end

local match, cluster, matched, jaccard, contained = 'new', sid, '', 0, 0
if best then
  cluster, matched = string.sub(best, 17, 32), string.sub(best, 1, 16)
  match = (string.sub(best, 33, 40) == thash) and 'exact' or 'near'
  jaccard, contained = bestj, bestc
end
if heir and heir_canonical then
  -- The displaced story was its cluster's canonical: this story is now, as if it had come first.
  match, cluster, matched, jaccard, contained = 'new', heir, '', 0, 0
  redis.call('SET', p .. 'c:' .. heir, sid, 'EX', ttl)
elseif heir and cluster ~= heir then
  -- The displaced story was a copy: this one stays in its cluster, measured against the canonical.
  cluster = heir
  matched, match, jaccard, contained = canonical_of(heir), 'near', 0, 0
  local crec = find(matched)
  if crec then
    jaccard, contained = score(crec)
    if string.sub(crec, 33, 40) == thash then match = 'exact' end
  end
end
local canonical = canonical_of(cluster)

local no = struct.pack('>I4', redis.call('INCR', p .. 'seq') % 4294967296)
local rk, ik = p .. 'r:' .. epoch, p .. 'i:' .. epoch
redis.call('HSET', rk, no, sid .. cluster .. thash .. struct.pack('>I4', size) .. sig)
redis.call('HSET', ik, sid, no)
redis.call('EXPIRE', rk, ttl)
redis.call('EXPIRE', ik, ttl)
for b = 0, #bands / 4 - 1 do
  local key = p .. 'b:' .. epoch .. ':' .. b
  local bucket = string.sub(bands, b * 4 + 1, b * 4 + 2)
  local v = redis.call('HGET', key, bucket) or ''
  redis.call('HSET', key, bucket, v .. string.sub(bands, b * 4 + 3, b * 4 + 4) .. no)
  redis.call('EXPIRE', key, ttl)
end
return {match, cluster, matched, tostring(jaccard), tostring(contained), canonical}
"""


class RedisDedupeState:
    """Implements ``DedupeState``: MinHash LSH in Redis, checked and written in one atomic script."""

    def __init__(
        self,
        client: redis.Redis,
        window_s: int,
        options: DedupeOptions | None = None,
        epochs: int = 7,
        prefix: str = f"{KEY}dd:",
        clock: Any = time.time,
    ) -> None:
        self._r = client
        self._options = options or DedupeOptions()
        self._epoch_s = max(1, window_s // epochs)
        # A story is findable for at least the window: the current epoch plus enough whole ones.
        self._live = epochs + 1
        self._ttl = self._epoch_s * (epochs + 2)
        self._prefix = prefix
        self._clock = clock
        self._script = client.register_script(DEDUPE_LUA)

    def script_args(self, story_id: str, fp: Any, displaced: Sequence[str] = ()) -> list[Any]:
        """The script's arguments for one story now (the benchmark sends them pipelined)."""
        epoch = int(self._clock() // self._epoch_s)
        return [
            self._prefix,
            bytes.fromhex(story_id),
            epoch,
            self._live,
            self._ttl,
            bytes.fromhex(fp.text_hash),
            fp.size,
            fp.signature,
            fp.bands,
            self._options.containment,
            self._options.jaccard_floor,
            12,
            b"".join(bytes.fromhex(d) for d in displaced if _STORY_ID.fullmatch(d) and d != story_id),
        ]

    def assign(self, story_id: str, fingerprint: Any) -> Assignment:
        return self._run(story_id, fingerprint, ())

    def take_over(self, story_id: str, fingerprint: Any, displaced: Sequence[str]) -> Assignment:
        return self._run(story_id, fingerprint, displaced)

    def _run(self, story_id: str, fingerprint: Any, displaced: Sequence[str]) -> Assignment:
        try:
            match, cluster, matched, jaccard, contained, canonical = self._script(
                args=self.script_args(story_id, fingerprint, displaced)
            )
        except redis.ConnectionError as exc:
            raise TransientError(f"redis: {exc}") from exc
        cluster_id, canonical_id = bytes(cluster).hex(), bytes(canonical).hex()
        return Assignment(
            cluster_id=cluster_id,
            match=match.decode(),
            matched_story_id=bytes(matched).hex() or None,
            jaccard=float(jaccard),
            containment=float(contained),
            canonical_id=canonical_id if canonical_id != cluster_id else None,
        )


# Seen-mark, stored entry and in-flight mark in one step: a worker that dies right after the
# sighting leaves a story the reconciler can restart, never one marked seen and gone.
_SIGHTING_LUA = """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local outcome = 'same'
if not old then outcome = 'new' elseif old ~= ARGV[1] then outcome = 'changed' end
if outcome ~= 'same' and ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
  redis.call('HSET', KEYS[4], ARGV[6], 'poll')
end
return outcome
"""


class RedisEntryLedger:
    """Which feed entries have started down the chain, and what happened to each story since."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._sighting = client.register_script(_SIGHTING_LUA)

    def first_sighting(self, story_id: str) -> bool:
        """True exactly once per story id, however many workers or feeds see it."""
        return bool(self._r.set(f"{KEY}seen:{story_id}", int(time.time()), nx=True))

    def sighting(self, story_id: str, version: str, ttl_s: int, entry_json: str = "", stage_ttl_s: int = 0) -> str:
        """``new``, ``changed`` (a revision at the same URL) or ``same``; atomic across workers.

        The record lives as long as the entry keeps appearing in feeds, plus ``ttl_s``. With
        ``entry_json``, a new or changed entry is also stored (the fetch stage's input) and marked in
        flight, in the same atomic step.
        """
        keys = [f"{KEY}seen:{story_id}", f"{KEY}stage:entry:{story_id}", f"{KEY}inflight", f"{KEY}inflight:stage"]
        result = self._sighting(keys=keys, args=[version, ttl_s, entry_json, stage_ttl_s or ttl_s, time.time(),
                                                 story_id])
        return result.decode() if isinstance(result, bytes) else str(result)

    def claim_canonical(self, canonical_id: str, story_id: str, ttl_s: int) -> str:
        """The story that holds this canonical URL (the first to claim it)."""
        key = f"{KEY}canon:{canonical_id}"
        if self._r.set(key, story_id, nx=True, ex=ttl_s):
            return story_id
        holder = self._r.get(key)
        return holder.decode() if holder is not None else self.claim_canonical(canonical_id, story_id, ttl_s)

    def seen_versions(self, story_ids: list[str]) -> list[str | None]:
        """The entry version last started for each story (None: never seen)."""
        if not story_ids:
            return []
        values = self._r.mget([f"{KEY}seen:{sid}" for sid in story_ids])
        return [v.decode() if v is not None else None for v in values]

    def claim_canonical_best(
        self, canonical_id: str, story_id: str, ttl_s: int, better_than: Callable[[str], bool]
    ) -> tuple[str, str | None]:
        """The story that holds this canonical URL: the best copy seen so far, whatever the arrival order.

        ``better_than(holder)`` says whether this story is a better copy than the current holder. Returns
        the holder after the claim and the story it displaced (now recorded as one of its copies), if any.
        Optimistic: a concurrent claim makes the comparison run again against the new holder.
        """
        key = f"{KEY}canon:{canonical_id}"
        with self._r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    holder = raw.decode() if isinstance(raw, bytes) else raw
                    if holder is not None and holder != story_id and not better_than(holder):
                        pipe.multi()
                        pipe.sadd(f"{key}:copies", story_id)
                        pipe.expire(f"{key}:copies", ttl_s)
                        pipe.execute()
                        return holder, None
                    pipe.multi()
                    pipe.set(key, story_id, ex=ttl_s)
                    if holder is not None and holder != story_id:
                        pipe.sadd(f"{key}:copies", holder)
                        pipe.expire(f"{key}:copies", ttl_s)
                    pipe.srem(f"{key}:copies", story_id)
                    pipe.execute()
                    return story_id, holder if holder != story_id else None
                except redis.WatchError:
                    continue

    def canonical_copies(self, canonical_id: str) -> set[str]:
        """The stories recorded as copies of the one holding this canonical URL."""
        return self.canonical_claims([canonical_id])[0][1]

    def canonical_claims(self, canonical_ids: Sequence[str]) -> list[tuple[str | None, set[str]]]:
        """For each canonical URL (by id), in one round trip: the story holding it (None: no claim) and
        the stories recorded as its copies."""
        if not canonical_ids:
            return []
        pipe = self._r.pipeline(transaction=False)
        for cid in canonical_ids:
            pipe.get(f"{KEY}canon:{cid}")
            pipe.smembers(f"{KEY}canon:{cid}:copies")
        raw = pipe.execute()
        out: list[tuple[str | None, set[str]]] = []
        for i in range(len(canonical_ids)):
            holder, members = raw[2 * i], raw[2 * i + 1]
            out.append((holder.decode() if isinstance(holder, bytes) else holder,
                        {m.decode() if isinstance(m, bytes) else str(m) for m in members}))
        return out

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

    def take_dead_letter(self, position: int) -> dict[str, Any] | None:
        """Remove and return the dead-letter record at ``position`` (0-based), if still there."""
        raw = self._r.lindex(f"{KEY}dead-letter", position)
        if raw is None:
            return None
        removed = self._r.lrem(f"{KEY}dead-letter", 1, raw)
        return json.loads(raw) if removed else None

    def purge_dead_letters(self) -> int:
        count = int(self._r.llen(f"{KEY}dead-letter"))
        self._r.delete(f"{KEY}dead-letter")
        return count

    # --- stories between stages: what the reconciler watches ------------------------------------

    def in_flight(self, story_id: str, stage: str, restarted: bool = False) -> None:
        """The story finished ``stage`` now and is on its way to the next one."""
        pipe = self._r.pipeline()
        pipe.zadd(f"{KEY}inflight", {story_id: time.time()})
        pipe.hset(f"{KEY}inflight:stage", story_id, stage)
        if restarted:
            pipe.hincrby(f"{KEY}inflight:restarts", story_id, 1)
        pipe.execute()

    def settle(self, story_id: str) -> None:
        """The story reached its end: indexed, dropped on purpose, or dead-lettered."""
        pipe = self._r.pipeline()
        pipe.zrem(f"{KEY}inflight", story_id)
        pipe.hdel(f"{KEY}inflight:stage", story_id)
        pipe.hdel(f"{KEY}inflight:restarts", story_id)
        pipe.execute()

    def stuck(self, before: float, limit: int = 200) -> list[tuple[str, str, int]]:
        """Stories whose last stage ended before ``before``: (story id, last stage, restarts so far)."""
        ids = [i.decode() for i in self._r.zrangebyscore(f"{KEY}inflight", "-inf", before, start=0, num=limit)]
        if not ids:
            return []
        stages = self._r.hmget(f"{KEY}inflight:stage", ids)
        restarts = self._r.hmget(f"{KEY}inflight:restarts", ids)
        return [(i, (st or b"poll").decode(), int(r or 0)) for i, st, r in zip(ids, stages, restarts, strict=True)]

    def in_flight_count(self) -> int:
        return int(self._r.zcard(f"{KEY}inflight"))


_TAKE_DUE_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, url in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], url) end
return due
"""


def _published_score(entry_json: str) -> float:
    try:
        return datetime.fromisoformat(json.loads(entry_json)["published"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


PROBLEM_EXAMPLES = 3  # details kept per kind of problem; the count says how many there were


class RedisFeedState:
    """Per-feed validators and health, one hash per feed, and the schedule of polls."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._take_due = client.register_script(_TAKE_DUE_LUA)

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

    def record_problems(self, feed_url: str, problems: Sequence[FeedProblem], now: float | None = None) -> None:
        """This poll's problems replace the last ones (an empty list clears them); totals per kind add up."""
        grouped: dict[str, list[str]] = {}
        for problem in problems:
            grouped.setdefault(problem.kind, []).append(problem.detail)
        summary = [
            {"kind": kind, "count": len(details), "examples": [d[:300] for d in details[:PROBLEM_EXAMPLES]]}
            for kind, details in grouped.items()
        ]
        key = f"{KEY}feed:{feed_url}"
        pipe = self._r.pipeline()
        pipe.hset(key, mapping={"last_problems": json.dumps(summary, ensure_ascii=False),
                                "last_problems_at": now if now is not None else time.time()})
        for kind, details in grouped.items():
            pipe.hincrby(key, f"problems_total:{kind}", len(details))
        pipe.sadd(f"{KEY}feeds", feed_url)
        pipe.execute()

    @staticmethod
    def problems_of(state: Mapping[str, str]) -> list[dict[str, Any]]:
        """A feed's last problems (kind, count, examples) from its stored state."""
        try:
            found = json.loads(state.get("last_problems") or "[]")
        except ValueError:
            return []
        return found if isinstance(found, list) else []

    @staticmethod
    def problem_totals(state: Mapping[str, str]) -> dict[str, int]:
        """Problems per kind over every poll so far."""
        prefix = "problems_total:"
        return {k.removeprefix(prefix): int(v) for k, v in state.items() if k.startswith(prefix)}

    # --- the schedule: a sorted set of feeds by next due time ----------------------------------

    def sync(self, feeds: dict[str, float], now: float) -> int:
        """Make the schedule hold exactly these feeds (url -> configured interval); new ones are due now."""
        digest = hashlib.sha256(json.dumps(sorted(feeds.items())).encode()).hexdigest()
        if self._r.get(f"{KEY}feeds:config") == digest.encode():
            return 0
        pipe = self._r.pipeline()
        for url, interval in feeds.items():
            pipe.zadd(f"{KEY}feeds:due", {url: now}, nx=True)
            pipe.hset(f"{KEY}feed:{url}", "interval_s", interval)
            pipe.sadd(f"{KEY}feeds", url)
        known = {u.decode() for u in self._r.zrange(f"{KEY}feeds:due", 0, -1)}
        for gone in known - set(feeds):
            pipe.zrem(f"{KEY}feeds:due", gone)
            pipe.srem(f"{KEY}feeds", gone)
        pipe.set(f"{KEY}feeds:config", digest)
        pipe.execute()
        return len(feeds)

    def take_due(self, now: float, lease_s: float, limit: int = 1000) -> list[str]:
        """Feeds due now; each is pushed ``lease_s`` ahead so no other dispatcher sends it again."""
        due = self._take_due(keys=[f"{KEY}feeds:due"], args=[now, now + lease_s, limit])
        return [u.decode() for u in due]

    def schedule(self, feed_url: str, at: float) -> None:
        self._r.zadd(f"{KEY}feeds:due", {feed_url: at}, xx=True)

    # --- entries over a poll's cap wait here for the following polls -----------------------------

    def defer(self, feed_url: str, entries: list[tuple[str, str]], limit: int = 20000) -> int:
        """Keep (story id, entry JSON) pairs for later polls, newest first, at most ``limit`` (the oldest
        beyond it are dropped and counted); returns how many wait now."""
        key = f"{KEY}feed:{feed_url}:deferred"
        pipe = self._r.pipeline()
        for sid, entry_json in entries:
            pipe.hset(key + ":entries", sid, entry_json)
            pipe.zadd(key, {sid: _published_score(entry_json)}, nx=True)
        pipe.execute()
        waiting = int(self._r.zcard(key))
        if waiting > limit:
            dropped = [d.decode() for d in self._r.zrange(key, 0, waiting - limit - 1)]
            pipe = self._r.pipeline()
            pipe.zrem(key, *dropped)
            pipe.hdel(key + ":entries", *dropped)
            pipe.hincrby(f"{KEY}feed:{feed_url}", "deferred_dropped", len(dropped))
            pipe.execute()
            waiting = limit
        return waiting

    def deferred(self, feed_url: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` deferred entries, newest first (they stay until ``undefer``)."""
        key = f"{KEY}feed:{feed_url}:deferred"
        sids = [s.decode() for s in self._r.zrevrange(key, 0, max(0, limit - 1))]
        if not sids:
            return []
        return [json.loads(raw) for raw in self._r.hmget(key + ":entries", sids) if raw is not None]

    def undefer(self, feed_url: str, story_ids: list[str]) -> None:
        if story_ids:
            key = f"{KEY}feed:{feed_url}:deferred"
            pipe = self._r.pipeline()
            pipe.zrem(key, *story_ids)
            pipe.hdel(key + ":entries", *story_ids)
            pipe.execute()

    def deferred_count(self, feed_url: str) -> int:
        return int(self._r.zcard(f"{KEY}feed:{feed_url}:deferred"))

    def next_due_any(self) -> float | None:
        """When the next feed falls due (None: no feeds)."""
        first = self._r.zrange(f"{KEY}feeds:due", 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def next_due(self, feed_url: str) -> float | None:
        score = self._r.zscore(f"{KEY}feeds:due", feed_url)
        return float(score) if score is not None else None
