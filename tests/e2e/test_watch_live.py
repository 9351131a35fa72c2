"""A watch followed from `wirewatch watch add` through a live ingest to every channel.

Real worker and beat processes ingest the demo feeds, on the embedded default (embedded Redis + SQLite)
and on real Redis + Elasticsearch.
Before they start, a stories watch (with a signed webhook to a local server) and a claims watch are
added with the CLI, the API server runs, and headless Chromium opens the search page following the
watch. The test then sees the same story arrive as an SSE card marked new, an Atom entry and a signed
webhook POST.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.watch import ATOM
from tests.e2e.test_web_page import CHROMIUM, CHROMIUM_ARGS, _unavailable
from tests.harness import free_port, temporary_prefix
from workers.api import Api, make_server
from workers.cli import _watch_api
from workers.demo import DemoServer
from workers.runtime import Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings
from workers.watches import verify

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "config" / "demo" / "stories.yaml"
SECRET = "e2e-webhook-secret-0123456789"
TIMEOUT_S = 240


@dataclass
class Hooks:
    url: str = ""
    received: list[tuple[dict[str, Any], bool, float]] = field(default_factory=list)  # body, signed ok, when


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(SECRET, self.headers.get("X-Wirewatch-Signature", ""), body)
            state.received.append((json.loads(body), ok, time.time()))
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


def cli(settings: Settings, *args: str) -> str:
    env = {**settings.to_env(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "workers.cli", *args], env=env, capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("backend", ["embedded", "services"])
def test_watch_from_add_through_live_ingest_to_atom_sse_and_webhook(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, hooks: Hooks
) -> None:
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package ({exc})")

    demo = DemoServer(CORPUS, port=0, spacing_s=0.05).start()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(json.dumps({"feeds": [{"name": n, "url": u, "interval_s": 1} for n, u in demo.feed_urls()]}))
    port = free_port()
    stack = contextlib.ExitStack()
    services: dict[str, Any] = {}
    if backend == "services":  # real Redis and Elasticsearch (no percolator on 8.19.3: in-process matching)
        import redis

        services["redis_url"] = request.getfixturevalue("redis_url")
        services["elasticsearch_url"] = es_url = request.getfixturevalue("es_url")
        services["index_prefix"] = stack.enter_context(temporary_prefix(es_url))
        redis.Redis.from_url(services["redis_url"]).flushdb()
    settings = Settings(
        data_dir=tmp_path / "data", feeds_file=str(feeds), allow_hosts=(demo.base_url.split("//")[1], hooks.url.split("/")[2]), log_level="WARNING",
        poll_min_interval_s=1.0, dispatch_every_s=0.5, host_min_gap_s=0.0, host_max_concurrency=16,
        api_port=port, public_url=f"http://127.0.0.1:{port}", **services,
    )
    redis_server = EmbeddedRedis(settings.data_dir / "redis")
    if backend == "embedded":
        redis_server.start()
    workers = WorkerSet(settings, log_dir=tmp_path / "logs")
    api_server = None
    try:
        added = json.loads(cli(settings, "watch", "add", "kal", "Kaliningrad", "--webhook", hooks.url,
                               "--secret", SECRET, "--json"))
        assert added["feed"] == f"http://127.0.0.1:{port}/watch/kal.atom" and added["secret"] == "***"
        cli(settings, "watch", "add", "peskov", "--claims", "--speaker", "Dmitry Peskov")
        assert [w["name"] for w in json.loads(cli(settings, "watch", "list", "--json"))] == ["kal", "peskov"]

        runtime = Runtime(settings)
        runtime.index  # noqa: B018 - prepared before workers start, as `wirewatch run` does
        api_server = make_server(Api(runtime.search_index, _watch_api(runtime)), "127.0.0.1", port)
        threading.Thread(target=api_server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{port}"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_S * 1000)
            page.goto(f"{base}/?watch=kal")
            page.wait_for_selector('body[data-live="open"]', state="attached")
            assert "Following watch" in page.inner_text("#live")

            workers.start()
            page.wait_for_selector("#results .card.live-new", state="attached")
            card = page.locator("#results .card.live-new").first
            assert card.locator(".badge.new-mark").inner_text().strip().lower() == "new"
            sse_story = card.get_attribute("data-story-id")
            assert "Why: new story; words: kaliningrad" in card.inner_text()
            browser.close()

        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not any(b.get("story", {}).get("story_id") == sse_story
                                                      for b, _ok, _t in hooks.received):
            time.sleep(0.2)
        bodies = [b for b, _ok, _t in hooks.received]
        assert all(ok for _b, ok, _t in hooks.received), "a webhook arrived with a bad signature"
        hook = next(b for b in bodies if b.get("story", {}).get("story_id") == sse_story)
        assert hook["watch"] == "kal" and hook["kind"] == "story" and hook["event_id"] == f"story:{sse_story}"
        assert hook["links"]["story"] == f"{base}/api/stories/{sse_story}"
        assert len({b["event_id"] for b in bodies}) == len(bodies), "a webhook event was delivered twice"

        with urllib.request.urlopen(f"{base}/watch/kal.atom", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("application/atom+xml")
            feed = ET.fromstring(resp.read())
        ns = {"a": ATOM}
        ids = [e.findtext("a:id", namespaces=ns) for e in feed.findall("a:entry", ns)]
        assert f"urn:wirewatch:kal:story:{sse_story}" in ids
        titles = [e.findtext("a:title", namespaces=ns) or "" for e in feed.findall("a:entry", ns)]
        runtime.index.refresh()
        doc = runtime.index.get(str(sse_story))
        assert doc is not None and doc["title"] in titles and "kaliningrad" in (doc["title"] + doc["text"]).lower()

        # The claims watch: every event is a claim by Peskov, each claim once.
        while time.monotonic() < deadline and runtime.watch_log.last_seq("peskov") == 0:
            time.sleep(0.2)
        claims = [r.event for r in runtime.watch_log.latest("peskov", 100)]
        assert claims and all(e.kind == "claim" and e.claim and "Peskov" in e.claim["speaker"] for e in claims)
        assert len({e.event_id for e in claims}) == len(claims)
        shown = cli(settings, "watch", "show", "kal")
        assert "webhook" in shown and "delivered through" in shown
    finally:
        workers.stop()
        demo.stop()
        if api_server is not None:
            api_server.shutdown()
            api_server.server_close()
        redis_server.stop()
        stack.close()
