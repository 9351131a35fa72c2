"""Watches in Redis: the saved searches, what is new, the per-watch event log and the delivery ledger.

Keys (all under ``ww:``):
- ``watches`` (hash name -> watch JSON) and ``watches:version`` (bumped on every change).
- ``watch:first:outlet:<cluster>`` (hash outlet -> story id) and ``watch:first:claim`` (hash claim key ->
  first story): HSETNX, so the first writer wins and a redelivered match finds itself the holder.
- ``watch:<name>:done`` (hash event id -> sequence number): a match is recorded once per watch.
- ``watch:<name>:events`` (stream of ``seq``, ``event``): what the Atom feed, SSE and webhooks read.
- ``watch:<name>:hook`` (hash): the webhook channel's ledger: delivered through which sequence number,
  failures, the last error. Redis runs with AOF, so all of it survives restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from pipeline.errors import PermanentError, TransientError
from pipeline.watch import (
    CompiledWatch,
    FirstSeen,
    Story,
    Watch,
    WatchEvent,
    events_for,
    first_seen_of,
    plan_backlog,
)
from workers.adapters.redis_state import KEY

log = logging.getLogger(__name__)

# Events of a batch, each recorded unless its watch already has it: KEYS are (done, seq, events) per event,
# ARGV the events kept per watch, then (event id, event JSON) per event. Returns each event's number, 0 if
# it was there already.
_RECORD = """
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local done, counter, stream = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local id, event = ARGV[2 * i + 2], ARGV[2 * i + 3]
  if redis.call('HEXISTS', done, id) == 1 then
    out[i + 1] = 0
  else
    local seq = redis.call('INCR', counter)
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'event', event)
    redis.call('HSET', done, id, seq)
    out[i + 1] = seq
  end
end
return out
"""
# Advance a channel's cursor only forwards: a slow, stale deliverer must not move it back.
_ADVANCE = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'delivered_through') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'delivered_through', ARGV[1]) end
return 1
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class WatchIndex(Protocol):
    backend: str

    def sync(self, watches: Sequence[Watch]) -> None: ...

    def candidates(self, docs: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]: ...


class WatchStore:
    """The saved searches."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._key = f"{KEY}watches"

    def add(self, watch: Watch, replace: bool = False) -> bool:
        """Store a watch; False if one of that name exists and ``replace`` is not set."""
        data = json.dumps(watch.to_json())
        stored = self._r.hset(self._key, watch.name, data) if replace else self._r.hsetnx(self._key, watch.name, data)
        if replace or stored:
            self._r.incr(f"{self._key}:version")
            return True
        return False

    def get(self, name: str) -> Watch | None:
        raw = self._r.hget(self._key, name)
        return Watch.from_json(json.loads(raw)) if raw else None

    def all(self) -> list[Watch]:
        return sorted((Watch.from_json(json.loads(v)) for v in self._r.hvals(self._key)), key=lambda w: w.name)

    def remove(self, name: str) -> bool:
        if not self._r.hdel(self._key, name):
            return False
        prefix = f"{KEY}watch:{name}:"
        self._r.delete(*(prefix + k for k in ("done", "events", "seq", "hook", "hook:lock", "hook:scheduled")))
        self._r.incr(f"{self._key}:version")
        return True

    def version(self) -> int:
        return int(self._r.get(f"{self._key}:version") or 0)


class Novelty:
    """What a document brings that no earlier document did: an outlet to its cluster, a claim to the record."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._r = client
        self._ttl = ttl_s

    def holders(self, docs: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, FirstSeen]]:
        """In one round trip: for each document, the story that first brought its outlet to its cluster;
        for each claim key in them, the story that first made the claim."""
        pipe = self._r.pipeline(transaction=False)
        for doc in docs:
            key = f"{KEY}watch:first:outlet:{(doc.get('cluster') or {}).get('id') or doc['story_id']}"
            outlet = str(doc.get("outlet", "")).casefold()
            pipe.hsetnx(key, outlet, doc["story_id"])
            pipe.expire(key, self._ttl)
            pipe.hget(key, outlet)
        claims_key = f"{KEY}watch:first:claim"
        keys: list[str] = []
        # Earliest published first, so a batch holding both the original and a repeat credits the original.
        for doc in sorted(docs, key=lambda d: (d.get("published") or "~", d["story_id"])):
            first = json.dumps(first_seen_of(doc).__dict__)
            for claim in doc.get("claims") or []:
                pipe.hsetnx(claims_key, claim["key"], first)
                keys.append(claim["key"])
        unique = list(dict.fromkeys(keys))
        if unique:
            pipe.hmget(claims_key, unique)
        answers = pipe.execute()
        held = answers[2 : 3 * len(docs) : 3]  # the HGET after each document's HSETNX and EXPIRE
        outlets = {d["story_id"]: (v.decode() if v else d["story_id"]) for d, v in zip(docs, held, strict=True)}
        firsts = answers[-1] if unique else []
        claims = {k: FirstSeen(**json.loads(v)) for k, v in zip(unique, firsts, strict=True) if v}
        return outlets, claims


@dataclass(frozen=True)
class Recorded:
    event: WatchEvent
    seq: int
    stream_id: str


class WatchLog:
    """Each watch's events, recorded once, in order; and the webhook channel's ledger."""

    def __init__(self, client: redis.Redis, kept: int = 1000) -> None:
        self._r = client
        self._kept = kept
        self._record = client.register_script(_RECORD)
        self._advance = client.register_script(_ADVANCE)
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def key(name: str, what: str) -> str:
        return f"{KEY}watch:{name}:{what}"

    def record(self, event: WatchEvent) -> int:
        """Append an event unless this watch already has it; its sequence number, or 0 if it had."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[WatchEvent]) -> list[int]:
        """``record`` for many events: one script call, one round trip."""
        if not events:
            return []
        keys: list[str] = []
        args: list[Any] = [self._kept]
        for event in events:
            keys += [self.key(event.watch, "done"), self.key(event.watch, "seq"), self.key(event.watch, "events")]
            args += [event.event_id, json.dumps(event.to_json())]
        return [int(x) for x in self._record(keys=keys, args=args)]

    def latest(self, name: str, count: int) -> list[Recorded]:
        """The newest events, newest first."""
        rows = self._r.xrevrange(self.key(name, "events"), count=count)
        return [self._recorded(i, f) for i, f in rows]

    def after(self, name: str, stream_id: str, count: int = 100, block_ms: int | None = None) -> list[Recorded]:
        """Events after a stream id ("0" for all), oldest first; optionally waiting for one."""
        answer = self._r.xread({self.key(name, "events"): stream_id}, count=count, block=block_ms)
        if not answer:
            return []
        return [self._recorded(i, f) for i, f in answer[0][1]]

    def last_seq(self, name: str) -> int:
        return int(self._r.get(self.key(name, "seq")) or 0)

    @staticmethod
    def _recorded(stream_id: bytes | str, fields: Mapping[bytes, bytes]) -> Recorded:
        sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
        return Recorded(WatchEvent.from_json(json.loads(fields[b"event"])), int(fields[b"seq"]), sid)

    # --- the webhook channel --------------------------------------------------------------------

    def hook_state(self, name: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self._r.hgetall(self.key(name, "hook")).items()}

    def delivered_through(self, name: str) -> int:
        return int(self._r.hget(self.key(name, "hook"), "delivered_through") or 0)

    def advance(self, name: str, seq: int) -> None:
        self._advance(keys=[self.key(name, "hook")], args=[seq])

    def note(self, name: str, **fields: Any) -> None:
        self._r.hset(self.key(name, "hook"), mapping={k: str(v) for k, v in fields.items()})

    def note_failure(self, name: str, error: str) -> int:
        failures = int(self._r.hincrby(self.key(name, "hook"), "consecutive_failures", 1))
        self._r.hincrby(self.key(name, "hook"), "failures", 1)
        self.note(name, last_error=error[:500], last_error_at=time.time())
        return failures

    def pending(self, name: str, bound: int) -> tuple[int, list[Recorded]]:
        """What the webhook has not had: (delivered through, the newest ``bound`` undelivered events oldest first)."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hget(self.key(name, "hook"), "delivered_through")
        pipe.get(self.key(name, "seq"))
        through_raw, last_raw = pipe.execute()
        through, last = int(through_raw or 0), int(last_raw or 0)
        count = min(last - through, bound)
        if count <= 0:
            return through, []
        # The newest `count` entries are exactly the undelivered ones (or the newest `bound` of them).
        return through, [r for r in reversed(self.latest(name, count)) if r.seq > through]

    def lock(self, name: str, token: str, ttl_s: float) -> bool:
        return bool(self._r.set(self.key(name, "hook:lock"), token, nx=True, px=int(ttl_s * 1000)))

    def unlock(self, name: str, token: str) -> None:
        self._release(keys=[self.key(name, "hook:lock")], args=[token])

    def schedule(self, name: str, ttl_s: float) -> bool:
        """Mark a delivery as queued for this watch; False if one already is (no pile of tasks per watch)."""
        return bool(self._r.set(self.key(name, "hook:scheduled"), "1", nx=True, ex=max(1, int(ttl_s))))

    def unschedule(self, name: str) -> None:
        self._r.delete(self.key(name, "hook:scheduled"))

    def reschedule(self, name: str, ttl_s: float) -> None:
        self._r.set(self.key(name, "hook:scheduled"), "1", ex=max(1, int(ttl_s)))


class WatchMatcher:
    """Matches written documents against every watch and records the events they raise."""

    def __init__(
        self, store: WatchStore, watch_index: WatchIndex, novelty: Novelty, events: WatchLog, base_url: str
    ) -> None:
        self.store = store
        self.index = watch_index
        self.novelty = novelty
        self.events = events
        self.base_url = base_url
        self._version = -1
        self._checked = 0.0
        self._compiled: dict[str, CompiledWatch] = {}

    def refresh_watches(self, max_age_s: float = 1.0) -> None:
        """Reload the watches if they changed; asks Redis at most once per ``max_age_s``."""
        if time.monotonic() - self._checked < max_age_s:
            return
        self._checked = time.monotonic()
        version = self.store.version()
        if version != self._version:
            watches = self.store.all()
            self.index.sync(watches)
            self._compiled = {w.name: CompiledWatch.of(w) for w in watches}
            self._version = version

    def watch(self, name: str) -> Watch | None:
        """A watch as this matcher last loaded it (no Redis round trip)."""
        cw = self._compiled.get(name)
        return cw.watch if cw is not None else None

    def match(self, docs: Sequence[Mapping[str, Any]], seen_at: Mapping[str, float] | None = None) -> list[Recorded]:
        """Record the events these documents raise (each at most once per watch); the new ones."""
        self.refresh_watches()
        if not docs:
            return []
        outlet_holders, claim_holders = self.novelty.holders(docs)
        if not self._compiled:
            return []
        candidates = self.index.candidates(docs)
        now = time.time()
        events: list[WatchEvent] = []
        for doc in docs:
            names = candidates.get(doc["story_id"], set())
            if not names:
                continue
            story = Story.of(doc)
            for name in sorted(names):
                cw = self._compiled.get(name)
                if cw is not None:
                    events += events_for(cw, story, outlet_holders[doc["story_id"]], claim_holders, self.base_url,
                                         now, (seen_at or {}).get(doc["story_id"]))
        seqs = self.events.record_many(events)
        return [Recorded(e, seq, "") for e, seq in zip(events, seqs, strict=True) if seq]


# --- webhooks ----------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: receivers check it and refuse old timestamps."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Check a webhook signature header (what a receiver does)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)


class Poster(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int: ...


@dataclass(frozen=True)
class DeliveryOutcome:
    sent: int
    summarised: int
    pending: bool  # something is left (the endpoint failed): retry later
    error: str = ""
    retry_after: float | None = None
    busy: bool = False  # another worker holds this watch's delivery


def deliver_webhook(watch: Watch, log_: WatchLog, poster: Poster, bound: int, token: str) -> DeliveryOutcome:
    """Send a watch's undelivered events in order, after a summary of what exceeds ``bound``.

    The cursor advances after each accepted POST, so a crash resends at most the one event in flight;
    every body carries its event id (and the X-Wirewatch-Event header) for receivers to drop a duplicate.
    """
    if not watch.webhook_url:
        return DeliveryOutcome(0, 0, False)
    if not log_.lock(watch.name, token, ttl_s=120):
        return DeliveryOutcome(0, 0, False, busy=True)  # another worker is delivering this watch's backlog
    sent = summarised = 0
    try:
        through, pending = log_.pending(watch.name, bound)
        plan = plan_backlog([r.seq for r in pending], through, bound)
        if plan.skipped and plan.last_skipped_seq is not None:
            body = {
                "watch": watch.name,
                "kind": "summary",
                "event_id": f"summary:{plan.first_skipped_seq}-{plan.last_skipped_seq}",
                "skipped": plan.skipped,
                "first_seq": plan.first_skipped_seq,
                "last_seq": plan.last_skipped_seq,
                "why": [f"{plan.skipped} older matches arrived while this endpoint was unreachable; "
                        f"the newest {bound} follow one by one, the rest are in the watch's feed"],
                "links": {"feed": pending[0].event.links.get("feed", "") if pending else ""},
            }
            _post(watch, poster, body, plan.last_skipped_seq)
            log_.advance(watch.name, plan.last_skipped_seq)
            summarised = plan.skipped
        for rec in pending:
            _post(watch, poster, {**rec.event.to_json(), "seq": rec.seq}, rec.seq)
            log_.advance(watch.name, rec.seq)
            sent += 1
        log_.note(watch.name, last_ok_at=time.time(), consecutive_failures=0)
        return DeliveryOutcome(sent, summarised, False)
    except (TransientError, PermanentError) as exc:
        # A 4xx for one body would block the channel for ever if retried as is: it is recorded and
        # retried like any failure (the receiver may be mid-deploy), with backoff capped by the task.
        log_.note_failure(watch.name, f"{type(exc).__name__}: {exc}")
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        return DeliveryOutcome(sent, summarised, True, str(exc), retry_after)
    finally:
        log_.unlock(watch.name, token)


def _post(watch: Watch, poster: Poster, payload: Mapping[str, Any], seq: int) -> None:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Wirewatch-Signature": signature(watch.secret, int(time.time()), body),
        "X-Wirewatch-Event": str(payload.get("event_id", "")),
        "X-Wirewatch-Delivery": f"{watch.name}:{seq}",
    }
    poster.post(watch.webhook_url, body, headers)
