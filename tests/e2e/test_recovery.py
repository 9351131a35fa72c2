"""Recovery with real workers: dead-letter replay through the command, and the reconciler.

A page that answers 404 ends in the dead-letter record; once the page is back, `wirewatch
dead-letter replay` brings the story in. A story whose message was lost between two stages is put
back in its chain by the reconciler.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.fetch import story_id_for
from pipeline.models import FeedEntry
from workers.runtime import Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ARTICLE = """<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
<p>VILNIUS (Reuters) - Lithuania said on Monday it had summoned a Russian diplomat after a military
drone crossed into its airspace near the village of Kuldre overnight, officials said.</p>
<p>The foreign ministry said the incursion was a deliberate provocation and that allies had been
informed, adding that the drone had been tracked by radar for several minutes before it turned back.</p>
<p>NATO said it was in close contact with Vilnius and that air policing jets had been placed on
alert, a spokesperson for the alliance said in a statement released in Brussels.</p>
<p>Moscow did not immediately comment on the report, which came a week after a similar incident
was reported by Latvia near its eastern border with Russia.</p></article></body></html>"""


class Site:
    """Two article pages and a feed; the second page answers 404 until it is switched on."""

    def __init__(self) -> None:
        self.second_up = False
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                self.path = self.path.split("?")[0]
                if self.path == "/rss":
                    items = "".join(f"<item><title>Story {n}</title><link>{base}/news/{n}</link></item>" for n in (1, 2))
                    body, ctype, status = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>", \
                        "application/rss+xml", 200
                elif self.path == "/news/1" or (self.path == "/news/2" and site.second_up):
                    body, ctype, status = ARTICLE.format(title=f"Drone story {self.path}"), "text/html", 200
                else:
                    body, ctype, status = "not here", "text/plain", 404
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Site, Settings, Runtime]]:
    site = Site()
    redis = EmbeddedRedis(tmp_path / "redis")
    redis.start()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(json.dumps({"feeds": [{"name": "site", "url": f"{site.base}/rss", "interval_s": 1}]}))
    settings = Settings(data_dir=tmp_path, feeds_file=str(feeds), allow_hosts=(site.base.split("//")[1],), log_level="WARNING",
                        poll_min_interval_s=1.0, poll_max_interval_s=2.0, dispatch_every_s=0.5, host_min_gap_s=0.0,
                        stuck_after_s=1.0, task_max_retries=1)
    runtime = Runtime(settings)
    runtime.index  # noqa: B018
    workers = WorkerSet(settings, log_dir=tmp_path / "logs")
    workers.start()
    yield site, settings, runtime
    workers.stop()
    site.httpd.shutdown()
    redis.stop()


def _wait(predicate: Any, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _cli(settings: Settings, *args: str) -> str:
    env = {**settings.to_env(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "workers.cli", *args], env=env, capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_dead_letter_then_replay(world: tuple[Site, Settings, Runtime]) -> None:
    site, settings, runtime = world
    first, second = story_id_for(f"{site.base}/news/1"), story_id_for(f"{site.base}/news/2")
    assert _wait(lambda: runtime.index.present([first]) == {first})
    assert _wait(lambda: any(d["story_id"] == second for d in runtime.ledger.dead_letters()))
    listing = json.loads(_cli(settings, "dead-letter", "list", "--json"))
    assert [d["story_id"] for d in listing] == [second] and "404" in listing[0]["error"]
    shown = json.loads(_cli(settings, "dead-letter", "show", "1"))
    assert shown["stage"] == "fetch" and shown["args"][0]["url"].endswith("/news/2")
    site.second_up = True
    assert "replayed 1" in _cli(settings, "dead-letter", "replay", "1")
    assert _wait(lambda: runtime.index.present([second]) == {second})
    assert runtime.ledger.dead_letters() == []
    trace = [(e["stage"], e["outcome"]) for e in runtime.ledger.trace(second)]
    assert ("fetch", "failed") in trace and ("fetch", "replayed") in trace and trace[-1] == ("index", "ok")


def test_reconciler_restarts_a_story_whose_message_was_lost(world: tuple[Site, Settings, Runtime]) -> None:
    from workers.sender import task_sender

    site, settings, runtime = world
    url = f"{site.base}/news/1"
    sid = story_id_for(url)
    assert _wait(lambda: runtime.index.present([sid]) == {sid})
    # A story that passed the poll but whose chain message vanished (say, Redis lost its last second).
    lost = FeedEntry(story_id_for(f"{url}?lost=1"), f"{url}?lost=1", f"{site.base}/rss", title="Lost story")
    runtime.stages.save("entry", lost.story_id, lost.to_json())
    runtime.ledger.in_flight(lost.story_id, "poll")
    time.sleep(1.5)
    sender = task_sender(runtime.redis_url)
    sender.send_task("wirewatch.reconcile")
    assert _wait(lambda: runtime.index.present([lost.story_id]) == {lost.story_id})
    assert ("fetch", "requeued") in [(e["stage"], e["outcome"]) for e in runtime.ledger.trace(lost.story_id)]
    assert _wait(lambda: runtime.ledger.in_flight_count() == 0, 30)
