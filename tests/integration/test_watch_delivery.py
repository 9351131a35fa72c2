"""Watches on a real Redis: the store, matching once per watch, claim novelty, and webhook delivery."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pipeline.models import Claim, Entity
from pipeline.watch import make_watch
from tests.integration.test_index_contract import make_doc
from workers.adapters.http import GuardedHttpClient
from workers.adapters.percolator import EmbeddedWatchIndex
from workers.watches import Novelty, WatchLog, WatchMatcher, WatchStore, deliver_webhook, verify

SECRET = "a-test-secret-of-some-length"


@dataclass
class Receiver:
    """A local webhook endpoint that can be switched off (answers 503)."""

    url: str
    up: bool = True
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not state.up:
                self.send_response(503)
                self.end_headers()
                return
            if not verify(SECRET, self.headers.get("X-Wirewatch-Signature", ""), body):
                state.bad_signatures += 1
            state.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


def matcher(redis_client: Any) -> WatchMatcher:
    """A fresh matcher, as a restarted worker builds it: all its state is in Redis."""
    return WatchMatcher(WatchStore(redis_client), EmbeddedWatchIndex(), Novelty(redis_client, 3600),
                        WatchLog(redis_client, kept=1000), "http://wirewatch.test")


def poster() -> GuardedHttpClient:
    return GuardedHttpClient("wirewatch-test", 2, 2, 4, 65536, 0, ("127.0.0.1",))


def test_store_add_list_show_remove(redis_client: Any) -> None:
    store = WatchStore(redis_client)
    v0 = store.version()
    assert store.add(make_watch("baltic", "stories", {"text": "baltic"}))
    assert not store.add(make_watch("baltic", "stories", {"text": "other"}))  # no silent overwrite
    assert store.get("baltic").query == {"text": "baltic"}  # type: ignore[union-attr]
    assert store.add(make_watch("baltic", "stories", {"text": "other"}), replace=True)
    assert [w.name for w in store.all()] == ["baltic"]
    assert store.version() == v0 + 2
    assert store.remove("baltic") and not store.remove("baltic")
    assert store.all() == [] and store.get("baltic") is None


def test_each_match_is_recorded_once_per_watch_across_restarts(redis_client: Any) -> None:
    WatchStore(redis_client).add(make_watch("kal", "stories", {"text": "kaliningrad"}))
    WatchStore(redis_client).add(make_watch("nato", "stories", {"entity": "Q7184"}))
    docs = [
        make_doc("s1", "Rail transit to Kaliningrad was halted.", entities=(Entity("NATO", "org", "Q7184"),)),
        make_doc("s2", "A football club won the cup."),
    ]
    first = matcher(redis_client).match(docs)
    assert sorted((r.event.watch, r.event.story["story_id"]) for r in first) == [("kal", "s1"), ("nato", "s1")]
    assert matcher(redis_client).match(docs) == []  # redelivered batch, new worker: nothing twice
    log = WatchLog(redis_client)
    assert [r.event.event_id for r in log.latest("kal", 10)] == ["story:s1"]
    # A copy from a new outlet is news; a second copy from that outlet is not.
    copy = make_doc("s3", "Rail transit to Kaliningrad was halted.", outlet="Coast Courier", cluster="s1")
    again = make_doc("s4", "Rail transit to Kaliningrad was halted again.", outlet="Coast Courier", cluster="s1")
    recorded = matcher(redis_client).match([copy])
    assert [r.event.why[0] for r in recorded if r.event.watch == "kal"] == [
        "new outlet for a story: Coast Courier now carries it"
    ]
    assert matcher(redis_client).match([again]) == []


def test_claims_watch_fires_on_new_claims_only_and_says_who_repeated_what(redis_client: Any) -> None:
    WatchStore(redis_client).add(make_watch("peskov", "claims", {"speaker": "Dmitry Peskov"}))
    said = "the drills are a threat to Russia"
    later = "the talks have been postponed"
    text1 = f"Dmitry Peskov said {said}."
    d1 = make_doc("c1", text1, claims=(Claim("Dmitry Peskov", "said", "indirect", said, 19, 19 + len(said)),),
                  published="2026-11-20T08:00:00+00:00")
    text2 = f"Dmitry Peskov said {said}. He added {later}."
    d2 = make_doc("c2", text2, outlet="Coast Courier", published="2026-11-21T08:00:00+00:00",
                  claims=(Claim("Dmitry Peskov", "said", "indirect", said, 19, 19 + len(said)),
                          Claim("Dmitry Peskov", "added", "indirect", later, text2.index(later),
                                text2.index(later) + len(later))))
    d3 = make_doc("c3", text1, outlet="Sports Desk", published="2026-11-22T08:00:00+00:00",
                  claims=(Claim("Dmitry Peskov", "said", "indirect", said, 19, 19 + len(said)),))
    first = matcher(redis_client).match([d1])
    assert [r.event.claim["text"] for r in first] == [said]  # type: ignore[index]
    second = matcher(redis_client).match([d2])
    assert [r.event.claim["text"] for r in second] == [later]  # type: ignore[index]
    assert [(x["repeated_by"], x["text"], x["first_outlet"]) for x in second[0].event.repeats] == [
        ("Coast Courier", said, "Harbour Herald")
    ]
    assert matcher(redis_client).match([d3]) == []  # a pure repeat is not an alert


def test_webhook_down_gets_its_backlog_in_order_with_the_rest_summarised(redis_client: Any,
                                                                         receiver: Receiver) -> None:
    store = WatchStore(redis_client)
    store.add(make_watch("kal", "stories", {"text": "kaliningrad"}, receiver.url, SECRET))
    watch = store.get("kal")
    assert watch is not None
    receiver.up = False
    for n in range(1, 8):
        matcher(redis_client).match([make_doc(f"k{n}", f"Kaliningrad update number {n}.")])
    out = deliver_webhook(watch, WatchLog(redis_client), poster(), bound=3, token="t1")
    assert out.pending and "503" in out.error and out.sent == 0
    state = WatchLog(redis_client).hook_state("kal")
    assert state["consecutive_failures"] == "1" and "503" in state["last_error"]
    assert WatchLog(redis_client).delivered_through("kal") == 0

    receiver.up = True
    out = deliver_webhook(watch, WatchLog(redis_client), poster(), bound=3, token="t2")  # a restarted worker
    assert (out.pending, out.sent, out.summarised) == (False, 3, 4)
    kinds = [(m["kind"], m.get("seq"), m["story"]["story_id"] if "story" in m else None) for m in receiver.received]
    assert kinds == [("summary", None, None), ("story", 5, "k5"), ("story", 6, "k6"), ("story", 7, "k7")]
    assert receiver.received[0]["skipped"] == 4
    assert receiver.bad_signatures == 0
    assert all(m["links"]["feed"].endswith("/watch/kal.atom") for m in receiver.received)
    assert "why" in receiver.received[1] and receiver.received[1]["why"][0] == "new story"

    # Delivered once per channel: nothing is sent twice, and a new match goes alone.
    assert deliver_webhook(watch, WatchLog(redis_client), poster(), bound=3, token="t3").sent == 0
    matcher(redis_client).match([make_doc("k8", "Kaliningrad update number 8.")])
    assert deliver_webhook(watch, WatchLog(redis_client), poster(), bound=3, token="t4").sent == 1
    assert [m.get("seq") for m in receiver.received[4:]] == [8]


def test_only_one_worker_delivers_a_watch_at_a_time(redis_client: Any, receiver: Receiver) -> None:
    store = WatchStore(redis_client)
    store.add(make_watch("kal", "stories", {"text": "kaliningrad"}, receiver.url, SECRET))
    watch = store.get("kal")
    assert watch is not None
    matcher(redis_client).match([make_doc("k1", "Kaliningrad update.")])
    log = WatchLog(redis_client)
    assert log.lock("kal", "other-worker", ttl_s=30)
    assert deliver_webhook(watch, log, poster(), bound=3, token="mine").busy
    assert receiver.received == []
    log.unlock("kal", "other-worker")
    assert deliver_webhook(watch, log, poster(), bound=3, token="mine").sent == 1
