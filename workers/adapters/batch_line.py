"""Stories waiting for a batched stage (extract): a line in Redis, taken in batches by a bounded
number of batch tasks, so spaCy runs through ``nlp.pipe`` over the stories that are waiting.

A story handed over joins ``waiting``; at most ``parallel`` batch tasks are out at once (one per
process child), each identified by a token with a lease, and no more are sent than stories wait
for (a batch sent but not yet started will take whatever waits when it starts). A batch task moves up to N waiting
stories to ``taken`` (with a lease), runs them, and releases them. A story whose batch died is put
back in ``waiting`` when its lease ends. When stories trickle in, batches are small and latency
stays low; when they pile up, batches grow to ``max_batch``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis

from workers.adapters.redis_state import KEY

BACKFILL_BEHIND_MS = 600_000  # a backfill story waits behind live stories that arrive up to 10 min later

# KEYS: waiting, taken, pending batches, running batches. ARGV: now, parallel, lease, token.
# Returns the token when a new batch task should be sent, else ''.
_SCHEDULE = """
local now, parallel, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, sid in ipairs(expired) do
  -- A story whose batch died goes to the front: it has waited longest.
  redis.call('ZREM', KEYS[2], sid)
  redis.call('ZADD', KEYS[1], 0, sid)
end
local pending = redis.call('ZCARD', KEYS[3])
if redis.call('ZCARD', KEYS[1]) <= pending or pending + redis.call('ZCARD', KEYS[4]) >= parallel then return '' end
redis.call('ZADD', KEYS[3], now + lease, ARGV[4])
return ARGV[4]
"""

# KEYS: waiting, taken, pending batches, running batches. ARGV: now, lease, parallel, max batch, token.
_TAKE = """
local now, lease, parallel, maxn = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], now + lease, ARGV[5])
local waiting = redis.call('ZCARD', KEYS[1])
local n = math.max(1, math.min(maxn, math.ceil(waiting / parallel)))
local popped = redis.call('ZPOPMIN', KEYS[1], n)
local ids = {}
for i = 1, #popped, 2 do
  table.insert(ids, popped[i])
  redis.call('ZADD', KEYS[2], now + lease, popped[i])
end
return ids
"""


class RedisBatchLine:
    """One batched stage's line of waiting stories, shared by every worker."""

    def __init__(self, client: redis.Redis, stage: str, parallel: int, max_batch: int = 16,
                 lease_s: float = 60.0, clock: Any = time.time) -> None:
        self._r = client
        base = f"{KEY}batch:{stage}:"
        self._keys = [base + "waiting", base + "taken", base + "pending", base + "running"]
        self.parallel = max(1, parallel)
        self.max_batch = max_batch
        self._lease_ms = int(lease_s * 1000)
        self._clock = clock
        self._schedule = client.register_script(_SCHEDULE)
        self._take = client.register_script(_TAKE)

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def add(self, story_ids: list[str], backfill: bool = False) -> None:
        """Stories join the line in arrival order; backfill joins as if it came ``BACKFILL_BEHIND_MS``
        later, so live stories arriving meanwhile are taken first (and backfill still gets its turn)."""
        if story_ids:
            now = self._now() + (BACKFILL_BEHIND_MS if backfill else 0)
            self._r.zadd(self._keys[0], {sid: now for sid in story_ids}, nx=True)

    def schedule(self) -> str | None:
        """A token for a new batch task if stories wait and fewer than ``parallel`` batches are out."""
        token = self._schedule(keys=self._keys, args=[self._now(), self.parallel, self._lease_ms, uuid.uuid4().hex])
        return token.decode() if token else None

    def take(self, token: str) -> list[str]:
        ids = self._take(keys=self._keys, args=[self._now(), self._lease_ms, self.parallel, self.max_batch, token])
        return [i.decode() for i in ids]

    def finish(self, token: str, story_ids: list[str]) -> None:
        pipe = self._r.pipeline()
        if story_ids:
            pipe.zrem(self._keys[1], *story_ids)
        pipe.zrem(self._keys[3], token)
        pipe.execute()

    def waiting(self) -> int:
        pipe = self._r.pipeline(transaction=False)
        self.count_waiting(pipe)
        return sum(int(n) for n in pipe.execute())

    def count_waiting(self, pipe: Any) -> None:
        """Queue on ``pipe`` the commands whose replies sum to the stories waiting (the dispatcher reads
        this with the queue depths in one round trip)."""
        for key in self._keys[:2]:
            pipe.zcard(key)

