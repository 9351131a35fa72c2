"""The watches side of the HTTP API on a real Redis: read-only by default, writes with a token, Atom, SSE."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.watch import ATOM, make_watch
from tests.integration.test_index_contract import make_doc
from workers.adapters.percolator import EmbeddedWatchIndex
from workers.adapters.sqlite_index import SqliteIndex
from workers.api import Api, WatchApi, make_server
from workers.cli import _watch_api
from workers.cli_errors import UsageError
from workers.runtime import Runtime
from workers.settings import Settings
from workers.watches import Novelty, WatchLog, WatchMatcher, WatchStore

TOKEN = "t0ken-for-the-write-mode-test"


def serve(redis_client: Any, tmp_path: Path, token: str) -> tuple[str, Any]:
    index = SqliteIndex(tmp_path / "stories.sqlite")
    index.ensure_ready()
    api = Api(index, WatchApi(WatchStore(redis_client), WatchLog(redis_client), "http://ww.test", token))
    server = make_server(api, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def read_only(redis_client: Any, tmp_path: Path) -> Iterator[str]:
    url, server = serve(redis_client, tmp_path, "")
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def writable(redis_client: Any, tmp_path: Path) -> Iterator[str]:
    url, server = serve(redis_client, tmp_path, TOKEN)
    yield url
    server.shutdown()
    server.server_close()


def call(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


WATCH = {"name": "kal", "kind": "stories", "query": {"text": "kaliningrad"}}


def test_read_only_by_default(read_only: str, redis_client: Any) -> None:
    WatchStore(redis_client).add(make_watch("kal", "stories", {"text": "kaliningrad"}, "http://h.test/", "s" * 20))
    assert call(f"{read_only}/api/watches", "POST", WATCH, token=TOKEN)[0] == 405
    assert call(f"{read_only}/api/watches/kal", "DELETE", token=TOKEN)[0] == 405
    status, _h, body = call(f"{read_only}/api/watches")
    listed = json.loads(body)["watches"]
    assert status == 200 and [w["name"] for w in listed] == ["kal"]
    assert listed[0]["secret"] == "***" and listed[0]["feed"] == "http://ww.test/watch/kal.atom"
    assert WatchStore(redis_client).get("kal") is not None


def test_writes_need_the_bearer_token(writable: str, redis_client: Any) -> None:
    status, headers, _b = call(f"{writable}/api/watches", "POST", WATCH)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert call(f"{writable}/api/watches", "POST", WATCH, token="wrong")[0] == 401
    assert WatchStore(redis_client).all() == []
    status, _h, body = call(f"{writable}/api/watches", "POST", WATCH, token=TOKEN)
    assert status == 201 and json.loads(body)["query"] == {"text": "kaliningrad"}
    assert call(f"{writable}/api/watches", "POST", WATCH, token=TOKEN)[0] == 409
    status, _h, body = call(f"{writable}/api/watches", "POST", {**WATCH, "name": "Bad Name"}, token=TOKEN)
    assert status == 400 and "name" in json.loads(body)["error"]
    status, _h, body = call(f"{writable}/api/watches", "POST",
                            {"name": "hook", "query": {"text": "x"}, "webhook_url": "http://h.test/"}, token=TOKEN)
    assert status == 201 and len(json.loads(body)["secret"]) >= 16  # generated, shown once
    assert call(f"{writable}/api/watches/kal", "DELETE")[0] == 401
    assert call(f"{writable}/api/watches/kal", "DELETE", token=TOKEN)[0] == 200
    assert call(f"{writable}/api/watches/kal", "DELETE", token=TOKEN)[0] == 404
    assert [w.name for w in WatchStore(redis_client).all()] == ["hook"]


def test_write_mode_needs_a_token_to_start(tmp_path: Path) -> None:
    # A usage error: `wirewatch serve` ends in one line with exit status 2.
    with pytest.raises(UsageError, match="TOKEN"):
        _watch_api(Runtime(Settings(data_dir=tmp_path, api_write="on")))
    with pytest.raises(UsageError, match="on or off"):
        _watch_api(Runtime(Settings(data_dir=tmp_path, api_write="yes")))


def matcher(redis_client: Any) -> WatchMatcher:
    return WatchMatcher(WatchStore(redis_client), EmbeddedWatchIndex(), Novelty(redis_client, 3600),
                        WatchLog(redis_client), "http://ww.test")


def test_atom_feed_per_watch(read_only: str, redis_client: Any) -> None:
    assert call(f"{read_only}/watch/nope.atom")[0] == 404
    WatchStore(redis_client).add(make_watch("kal", "stories", {"text": "kaliningrad"}))
    matcher(redis_client).match([make_doc("k1", "Rail transit to Kaliningrad was halted.", title="Transit halted")])
    status, headers, body = call(f"{read_only}/watch/kal.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(body)
    assert [e.findtext(f"{{{ATOM}}}title") for e in feed.findall(f"{{{ATOM}}}entry")] == ["Transit halted"]


def read_events(url: str, want: int, headers: dict[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    req = urllib.request.Request(url, headers=headers or {})
    events: list[tuple[str, dict[str, Any]]] = []
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        event_id = ""
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                events.append((event_id, json.loads(line[6:])))
                if len(events) == want:
                    return events
    return events


def test_sse_sends_new_events_and_resumes_after_last_event_id(read_only: str, redis_client: Any) -> None:
    assert call(f"{read_only}/api/watches/nope/events")[0] == 404
    WatchStore(redis_client).add(make_watch("kal", "stories", {"text": "kaliningrad"}))
    matcher(redis_client).match([make_doc("old", "Kaliningrad before anyone listened.")])
    got: list[list[tuple[str, dict[str, Any]]]] = []
    reader = threading.Thread(target=lambda: got.append(read_events(f"{read_only}/api/watches/kal/events", 2)))
    reader.start()
    # The stream starts from now: wait until the reader is connected, then record two matches.
    time.sleep(1.5)
    matcher(redis_client).match([make_doc("n1", "Kaliningrad first."), make_doc("n2", "Kaliningrad second.")])
    reader.join(timeout=20)
    assert [e["story"]["story_id"] for _i, e in got[0]] == ["n1", "n2"]  # not "old": it came before
    assert got[0][0][1]["why"][0] == "new story"
    # A browser reconnecting with Last-Event-ID gets what followed it, nothing twice.
    again = read_events(f"{read_only}/api/watches/kal/events", 1, {"Last-Event-ID": got[0][0][0]})
    assert [e["story"]["story_id"] for _i, e in again] == ["n2"]
