"""The per-host fetch frontier in Redis: each host has its own line of due work (feed polls and
article fetches), handed out exactly when the host's gap and concurrency allow.

Nothing waits by being re-queued. A host is in the ``ready`` sorted set, scored by the earliest time
it may be asked again, only while it has work and a free slot; ``take`` pops the first ready host's
next item in one atomic step, leases a slot to it and pushes the host's next time a gap ahead. The
task that does the request gives the slot back (``done``). Within a host the line is round-robin
across its feeds (an item's rank is one past its feed's last rank), so one feed with thousands of
items cannot hold back the host's other feeds. Polls and the fetches of live stories go ahead of the
round, earliest deadline first (a band of scores below every rank): a live fetch is due the moment
it is queued, a poll ``poll_slack_s`` after. A just-found story so goes ahead of the polls queued in
the few seconds before it, which can spare the wait, but never of a poll whose slack has run out:
a poll waits for at most its slack's worth of stories found after it.

Keys (under ``ww:fr:``): ``line:<host>`` zset item -> rank; ``rank:<host>`` hash feed -> last rank;
``floor:<host>`` rank of the last item taken; ``since:<host>`` hash item -> ms enqueued;
``active:<host>`` zset slot token -> lease end (ms); ``next:<host>`` ms the host may next be asked;
``start:<host>`` ms of the last request start (the gap is exact at request time, see ``begin``);
``ready`` zset host -> ms; ``leases`` zset "host\\ttoken" -> lease end; ``outstanding`` hash feed ->
article fetches of its entries waiting in any line; ``wake`` a list dispatchers block on.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from workers.adapters.redis_state import KEY

P = f"{KEY}fr:"
POLL, FETCH = "p", "f"

# Front items (polls, live fetches) score below every rank: 2^50 below zero, plus their deadline in
# ms (ARGV[7], empty for a round item); integers stay exact in a double up to 2^53.
_ADD = """
local FRONT = 1125899906842624
local p, host, item, feed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, limit, deadline = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local line = p .. 'line:' .. host
if redis.call('ZSCORE', line, item) then return 0 end
local score
if deadline then
  score = deadline - FRONT
else
  local floor = tonumber(redis.call('GET', p .. 'floor:' .. host) or '0')
  local r = tonumber(redis.call('HGET', p .. 'rank:' .. host, feed) or '0')
  score = math.max(r, floor) + 1
  redis.call('HSET', p .. 'rank:' .. host, feed, score)
end
redis.call('ZADD', line, score, item)
redis.call('HSET', p .. 'since:' .. host, item, now)
if string.sub(item, 1, 2) == 'f\t' then redis.call('HINCRBY', p .. 'outstanding', feed, 1) end
redis.call('ZREMRANGEBYSCORE', p .. 'active:' .. host, '-inf', now)
if redis.call('ZCARD', p .. 'active:' .. host) < limit then
  local nxt = tonumber(redis.call('GET', p .. 'next:' .. host) or '0')
  redis.call('ZADD', p .. 'ready', 'NX', math.max(nxt, now), host)
end
redis.call('LPUSH', p .. 'wake', '1')
redis.call('LTRIM', p .. 'wake', 0, 0)
return 1
"""

_TAKE = """
local p, now, lease, gap, limit, token = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), ARGV[6]
for attempt = 1, 20 do
  local h = redis.call('ZRANGEBYSCORE', p .. 'ready', '-inf', now, 'LIMIT', 0, 1)
  if #h == 0 then
    local first = redis.call('ZRANGE', p .. 'ready', 0, 0, 'WITHSCORES')
    return {'', first[2] or ''}
  end
  local host = h[1]
  local line, active = p .. 'line:' .. host, p .. 'active:' .. host
  redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
  local it = redis.call('ZRANGE', line, 0, 0, 'WITHSCORES')
  if #it == 0 or redis.call('ZCARD', active) >= limit then
    redis.call('ZREM', p .. 'ready', host)
  else
    redis.call('ZREM', line, it[1])
    if string.sub(it[1], 1, 2) == 'f\t' then
      local feed = string.match(it[1], '^[^\t]*\t[^\t]*\t(.*)$')
      if feed and redis.call('HINCRBY', p .. 'outstanding', feed, -1) <= 0 then
        redis.call('HDEL', p .. 'outstanding', feed)
      end
    end
    local since = redis.call('HGET', p .. 'since:' .. host, it[1]) or ''
    redis.call('HDEL', p .. 'since:' .. host, it[1])
    if tonumber(it[2]) >= 0 then redis.call('SET', p .. 'floor:' .. host, it[2]) end
    if redis.call('ZCARD', line) == 0 then
      redis.call('DEL', p .. 'rank:' .. host, p .. 'floor:' .. host)
    end
    redis.call('ZADD', active, now + lease, token)
    redis.call('PEXPIRE', active, lease)
    redis.call('ZADD', p .. 'leases', now + lease, host .. '\\t' .. token)
    redis.call('SET', p .. 'next:' .. host, now + gap, 'PX', math.max(1, gap))
    if redis.call('ZCARD', line) > 0 and redis.call('ZCARD', active) < limit then
      redis.call('ZADD', p .. 'ready', now + gap, host)
    else
      redis.call('ZREM', p .. 'ready', host)
    end
    return {'item', host, it[1], token, since}
  end
end
return {'', ''}
"""

_DONE = """
local p, host, token, now, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local active = p .. 'active:' .. host
redis.call('ZREM', active, token)
redis.call('ZREM', p .. 'leases', host .. '\\t' .. token)
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
if redis.call('ZCARD', p .. 'line:' .. host) > 0 and redis.call('ZCARD', active) < limit then
  local nxt = tonumber(redis.call('GET', p .. 'next:' .. host) or '0')
  redis.call('ZADD', p .. 'ready', 'NX', math.max(nxt, now), host)
  redis.call('LPUSH', p .. 'wake', '1')
  redis.call('LTRIM', p .. 'wake', 0, 0)
end
return 1
"""

# Slots whose task never gave them back (its worker died) are freed when their lease ends.
_REAP = """
local p, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now, 'LIMIT', 0, 500)
for _, m in ipairs(gone) do
  local tab = string.find(m, '\\t', 1, true)
  local host, token = string.sub(m, 1, tab - 1), string.sub(m, tab + 1)
  redis.call('ZREM', p .. 'active:' .. host, token)
  redis.call('ZREM', p .. 'leases', m)
  if redis.call('ZCARD', p .. 'line:' .. host) > 0 and redis.call('ZCARD', p .. 'active:' .. host) < limit then
    local nxt = tonumber(redis.call('GET', p .. 'next:' .. host) or '0')
    redis.call('ZADD', p .. 'ready', 'NX', math.max(nxt, now), host)
  end
end
return #gone
"""

# The gap is kept exact where the request is made: a task that starts sooner than the gap after
# the host's previous request start waits the difference (in its own thread) before it asks.
_BEGIN = """
local key, now, gap = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', key) or '0')
if now < last + gap then return {last + gap - now, 0} end
redis.call('SET', key, now, 'PX', math.max(1000, gap * 2))
return {0, now}
"""


# A slot for work that did not come through the line (a retried fetch): free now, or try again soon.
_ACQUIRE = """
local p, host, token, now, lease, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6])
local active = p .. 'active:' .. host
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
if redis.call('ZCARD', active) >= limit then return 0 end
redis.call('ZADD', active, now + lease, token)
redis.call('PEXPIRE', active, lease)
redis.call('ZADD', p .. 'leases', now + lease, host .. '\t' .. token)
return 1
"""


@dataclass(frozen=True)
class Slot:
    """One item handed out: the host, what to do, and the lease token to give back."""

    host: str
    kind: str  # POLL or FETCH
    ref: str  # the feed URL (poll) or story id (fetch)
    feed: str
    token: str
    waited_s: float


def item_for(kind: str, ref: str, feed: str) -> str:
    return f"{kind}\t{ref}\t{feed}"


class RedisFrontier:
    """Per-host lines of due work, politeness exact across every worker: at most ``limit`` requests
    at once per host, and never two request starts closer than ``gap_s``."""

    def __init__(self, client: redis.Redis, limit: int, gap_s: float, lease_s: float = 120.0,
                 clock: Any = time.time, poll_slack_s: float = 3.0) -> None:
        self._r = client
        self._poll_slack_ms = int(poll_slack_s * 1000)
        self.limit = max(1, limit)
        self.gap_s = gap_s
        self._gap_ms = int(gap_s * 1000)
        self._lease_ms = int(lease_s * 1000)
        self._clock = clock
        self._add = client.register_script(_ADD)
        self._take = client.register_script(_TAKE)
        self._done = client.register_script(_DONE)
        self._reap = client.register_script(_REAP)
        self._begin = client.register_script(_BEGIN)
        self._acquire = client.register_script(_ACQUIRE)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def add(self, host: str, kind: str, ref: str, feed: str, live: bool = False) -> bool:
        """Put work in its host's line; False if already there.

        Polls, and fetches of live stories (``live``), go ahead of the round, earliest deadline
        first: a live fetch's is now (a user waits for that story), a poll's ``poll_slack_s`` from
        now (its feed's interval has a tolerance to spend). Backfill fetches take their feed's turn
        in the round."""
        now = self._now_ms()
        deadline = now + self._poll_slack_ms if kind == POLL else now if live else None
        args = [P, host, item_for(kind, ref, feed), feed, now, self.limit, "" if deadline is None else deadline]
        return bool(self._add(args=args))

    def take(self) -> tuple[Slot | None, float | None]:
        """The next item whose host may be asked now, or (None, seconds until one may be)."""
        token = uuid.uuid4().hex[:16]
        now = self._now_ms()
        out = self._take(args=[P, now, self._lease_ms, self._gap_ms, self.limit, token])
        if out[0] != b"item":
            wait = (float(out[1]) - now) / 1000.0 if len(out) > 1 and out[1] else None
            return None, wait
        host, item = out[1].decode(), out[2].decode()
        kind, ref, feed = item.split("\t", 2)
        since = float(out[4]) if out[4] else now
        return Slot(host, kind, ref, feed, out[3].decode(), (now - since) / 1000.0), None

    def begin(self, host: str) -> tuple[float, float]:
        """(seconds to wait, 0) before this host may be asked, or (0, the request's start time, recorded)."""
        wait_ms, start_ms = self._begin(keys=[f"{P}start:{host}"], args=[self._now_ms(), self._gap_ms])
        return int(wait_ms) / 1000.0, int(start_ms) / 1000.0

    def wait_turn(self, host: str, sleep: Any = time.sleep) -> float:
        """Block (this thread only) until the host's gap has passed; returns the start time recorded."""
        while True:
            wait, started = self.begin(host)
            if not wait:
                return started
            sleep(wait)

    def acquire(self, host: str, sleep: Any = time.sleep, poll_s: float = 0.2) -> str:
        """Block (this thread only) until one of the host's slots is free; returns its token."""
        token = uuid.uuid4().hex[:16]
        while not self._acquire(args=[P, host, token, self._now_ms(), self._lease_ms, self.limit]):
            sleep(poll_s)
        return token

    def done(self, host: str, token: str) -> None:
        self._done(args=[P, host, token, self._now_ms(), self.limit])

    def reap(self) -> int:
        return int(self._reap(args=[P, self._now_ms(), self.limit]))

    def wait_for_work(self, timeout_s: float) -> None:
        """Sleep until work is added or a slot is given back, or the timeout passes."""
        timeout = max(0.01, min(timeout_s, 5.0))
        self._r.blpop([f"{P}wake"], timeout=timeout)

    # --- what `wirewatch feeds` and the status view show --------------------------------------

    def hosts(self) -> dict[str, dict[str, float]]:
        """Per host with queued or active work: queued items, active requests, oldest wait (s)."""
        now = self._now_ms()
        names: set[str] = set()
        for key in self._r.scan_iter(match=f"{P}line:*", count=1000):
            names.add(key.decode()[len(P) + 5 :])
        for key in self._r.scan_iter(match=f"{P}active:*", count=1000):
            names.add(key.decode()[len(P) + 7 :])
        out: dict[str, dict[str, float]] = {}
        for host in sorted(names):
            pipe = self._r.pipeline()
            pipe.zcard(f"{P}line:{host}")
            pipe.zcount(f"{P}active:{host}", now, "+inf")
            pipe.hvals(f"{P}since:{host}")
            queued, active, since = pipe.execute()
            oldest = min((float(s) for s in since), default=float(now))
            out[host] = {"queued": int(queued), "active": int(active), "oldest_wait_s": (now - oldest) / 1000.0}
        return out

    def holds(self, host: str, kind: str, ref: str, feed: str) -> bool:
        """Whether this work is waiting in its host's line."""
        return self._r.zscore(f"{P}line:{host}", item_for(kind, ref, feed)) is not None

    def queued(self, host: str) -> int:
        return int(self._r.zcard(f"{P}line:{host}"))

    def outstanding(self, feed: str) -> int:
        """Article fetches of this feed's entries still waiting in their hosts' lines."""
        return int(self._r.hget(f"{P}outstanding", feed) or 0)
