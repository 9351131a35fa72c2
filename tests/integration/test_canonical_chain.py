"""Two copies of one page (an AMP copy with a publisher's tail, and the page itself with its metadata) and a
third outlet's copy of the same wire story, through the real chain in every arrival order.

Whatever the order, the end is the same: the index holds the page once, as the better copy, canonical of
one cluster that also holds the other outlet's copy; the worse copy is recorded as its copy and is not in
the index, even when it was indexed first or was still on its way when the better copy came.

The stage tasks run in this process (Celery eager mode, each message delivered by the test in the order
under test), fetching from a local server, on real Redis with Elasticsearch and on the embedded SQLite index.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.fetch import story_id_for
from pipeline.models import FeedEntry, SearchQuery
from tests.ferry_story import INTRO, PAGE, TAIL, WIRE

TITLE = "Ferry operator halts night crossings after navigation outage"


def _html(canonical: str, paragraphs: list[str], site: str, structured: bool) -> bytes:
    head = (f"<meta charset='utf-8'><title>{TITLE}</title><link rel='canonical' href='{canonical}'>"
            f"<meta property='og:site_name' content='{site}'>")
    if structured:
        head += ('<script type="application/ld+json">' + json.dumps({
            "@type": "NewsArticle", "headline": TITLE, "author": {"@type": "Person", "name": "Mona Kessler"},
            "datePublished": "2026-11-20T09:00:00+01:00"}) + "</script>")
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>".encode()


PAGES = {
    # The AMP copy: no structured metadata, and the outlet's trading promotion inline.
    "/amp/news/2026/11/20/ferry-operator-halts-night-crossings": _html(PAGE, [*WIRE, TAIL], "Harbour Herald", False),
    # The page itself: author and date declared, no tail. The better copy.
    "/news/2026/11/20/ferry-operator-halts-night-crossings": _html(PAGE, WIRE, "Harbour Herald", True),
    # Another outlet's copy of the wire story, with a local intro.
    "/world/baltic-ferry-night-crossings-halted": _html(
        "https://www.coastalcourier.example/world/baltic-ferry-night-crossings-halted", [INTRO, *WIRE],
        "Coastal Courier", True),
}


class PageServer:
    """The three pages on a free local port."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                body = PAGES.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_NLP: dict[str, Any] = {}  # spaCy loaded once for the module, not once per test


class Chain:
    """The story chain's tasks, each message delivered when the test says (as a broker would, in any order)."""

    def __init__(self, rt: Any, server: PageServer) -> None:
        from workers import tasks

        self.rt, self.server, self.tasks = rt, server, tasks
        self.worse = self._entry("/amp/news/2026/11/20/ferry-operator-halts-night-crossings")
        self.better = self._entry("/news/2026/11/20/ferry-operator-halts-night-crossings")
        self.other = self._entry("/world/baltic-ferry-night-crossings-halted")

    def _entry(self, path: str) -> FeedEntry:
        url = self.server.url(path)
        return FeedEntry(story_id=story_id_for(url), url=url, feed_url=self.server.url("/rss"), title=TITLE)

    def _deliver(self, task: Any, arg: dict[str, Any]) -> bool:
        """Run one message; True if the task succeeded (Celery sends a chain's next step only then)."""
        return bool(task.apply(args=[arg]).state == "SUCCESS")

    def fetch(self, entry: FeedEntry) -> bool:
        sent: list[str] = []
        with _patched(self.tasks, "chain_from", lambda stage, sid, entry=None, backfill=False: sent.append(stage)):
            ok = self._deliver(self.tasks.fetch_article, entry.to_json())
        return ok and sent == ["clean"]

    def clean(self, entry: FeedEntry) -> bool:
        return self._deliver(self.tasks.clean_story, {"story_id": entry.story_id})

    def dedupe(self, entry: FeedEntry, hold: bool = False) -> bool:
        """Dedupe; the story then goes on to extract and index at once, or with ``hold`` waits between."""
        if not hold:
            return self._deliver(self.tasks.dedupe_story, {"story_id": entry.story_id})
        handed: list[str] = []
        with _patched(self.tasks, "hand_to_extract", lambda ids, backfill=False: handed.extend(ids)):
            ok = self._deliver(self.tasks.dedupe_story, {"story_id": entry.story_id})
        return ok and handed == [entry.story_id]

    def extract_and_index(self, entry: FeedEntry) -> None:
        self.tasks.hand_to_extract([entry.story_id])  # the held message delivered at last

    def whole(self, entry: FeedEntry) -> None:
        assert self.fetch(entry)
        if self.clean(entry):
            self.dedupe(entry)

    def outcomes(self, entry: FeedEntry) -> list[tuple[str, str]]:
        return [(e["stage"], e["outcome"]) for e in self.rt.ledger.trace(entry.story_id)]


@contextlib.contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


@pytest.fixture(params=["elasticsearch", "embedded"])
def chain(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          redis_url: str) -> Iterator[Chain]:
    for key in list(os.environ):
        if key.startswith("WIREWATCH_") and not key.startswith("WIREWATCH_TEST_"):
            monkeypatch.delenv(key)
    server = PageServer()
    env = {"REDIS_URL": redis_url, "DATA_DIR": str(tmp_path), "ALLOW_HOSTS": server.host, "HOST_MIN_GAP_S": "0",
           "LOG_LEVEL": "WARNING"}
    if request.param == "elasticsearch":
        env |= {"ELASTICSEARCH_URL": request.getfixturevalue("es_url"),
                "INDEX_PREFIX": request.getfixturevalue("es_prefix")}
    for key, value in env.items():
        monkeypatch.setenv(f"WIREWATCH_{key}", value)
    from workers.celery_app import app
    from workers.runtime import current

    current.cache_clear()
    rt = current()
    rt.redis.flushdb()
    rt.index  # noqa: B018 - prepared, as `wirewatch run` does before the workers start
    if "nlp" not in _NLP:
        _NLP["nlp"] = rt.nlp
    rt.nlp = _NLP["nlp"]
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield Chain(rt, server)
    finally:
        app.conf.task_always_eager = eager
        server.stop()
        rt.redis.flushdb()
        current.cache_clear()


def _worse_first(c: Chain) -> None:
    c.whole(c.worse)
    c.whole(c.other)  # joins the worse copy's cluster
    c.whole(c.better)


def _better_first(c: Chain) -> None:
    c.whole(c.better)
    c.whole(c.other)
    c.whole(c.worse)  # dropped at clean: a copy of the better one


def _worse_in_flight_before_extract(c: Chain) -> None:
    assert c.fetch(c.worse) and c.clean(c.worse) and c.dedupe(c.worse, hold=True)
    c.whole(c.other)
    c.whole(c.better)
    c.extract_and_index(c.worse)  # its message comes late: it must not bring the worse copy back


def _worse_in_flight_before_dedupe(c: Chain) -> None:
    assert c.fetch(c.worse) and c.clean(c.worse)
    c.whole(c.better)
    c.whole(c.other)
    assert not c.dedupe(c.worse)  # displaced meanwhile: it goes no further


ORDERS: dict[str, Callable[[Chain], None]] = {
    "worse_first": _worse_first,
    "better_first": _better_first,
    "worse_in_flight_before_extract": _worse_in_flight_before_extract,
    "worse_in_flight_before_dedupe": _worse_in_flight_before_dedupe,
}
WORSE_ENDS = {
    "worse_first": [("index", "ok"), ("clean", "copy"), ("index", "removed")],
    "better_first": [("clean", "duplicate_url")],
    "worse_in_flight_before_extract": [("clean", "copy"), ("extract", "ok"), ("index", "duplicate_url")],
    "worse_in_flight_before_dedupe": [("clean", "copy"), ("dedupe", "duplicate_url")],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_one_page_ends_as_its_better_copy_whatever_the_order(chain: Chain, order: str) -> None:
    ORDERS[order](chain)
    rt, worse, better, other = chain.rt, chain.worse, chain.better, chain.other
    rt.index.refresh()
    ids = [worse.story_id, better.story_id, other.story_id]
    traces = {e.story_id: chain.outcomes(e) for e in (worse, better, other)}
    assert rt.index.present(ids) == {better.story_id, other.story_id}, traces
    kept, copy = rt.index.get(better.story_id), rt.index.get(other.story_id)
    assert kept is not None and copy is not None
    assert kept["url"] == better.url and kept["canonical_url"] == PAGE and TAIL not in kept["text"]
    assert kept["authors"] == ["Mona Kessler"]
    # One cluster: the better copy its canonical, the other outlet's copy in it.
    assert kept["cluster"]["canonical"] is True and copy["cluster"]["canonical"] is False
    assert copy["cluster"]["id"] == kept["cluster"]["id"]
    found = rt.index.search(SearchQuery(text="Nordvik"))
    assert found.total == 1
    assert sorted(s.outlet for s in found.hits[0].sources) == ["Coastal Courier", "Harbour Herald"]
    assert sorted(s.url for s in found.hits[0].sources) == sorted([better.url, other.url])
    assert rt.index.search(SearchQuery(text="flutter", collapse=False)).total == 0
    # The worse copy is recorded as the better one's copy, and how it ended.
    page = story_id_for(PAGE)
    assert rt.ledger.canonical_claims([page]) == [(better.story_id, {worse.story_id})]
    assert chain.outcomes(worse)[-len(WORSE_ENDS[order]):] == WORSE_ENDS[order]
    assert chain.outcomes(better)[-1] == ("index", "ok") and chain.outcomes(other)[-1] == ("index", "ok")
    assert rt.ledger.dead_letters() == []
