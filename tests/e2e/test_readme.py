"""Every `wirewatch` command and API URL in the README runs against the demo's data and returns what it implies.

The demo runs once (real worker processes, embedded Redis and index); then each command shown in a
```bash block of the README is run as written (with the demo's story id and URLs put in), and each
curl URL is asked of the API serving that data. A new README command must either run here or be
listed in SKIP with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.models import SearchQuery
from tests.demo_names import case_duplicates, demo_demonyms, demo_places, misfiled
from workers.adapters.sqlite_index import SqliteIndex
from workers.api import Api, make_server
from workers.topology import QUEUES

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
WIREWATCH = [sys.executable, "-m", "workers.cli"]
# Commands the README shows that this test does not run, and why.
SKIP = {
    "run": "starts workers and beat until stopped; the e2e chain tests run it",
    "demo": "the fixture of this test runs it",
    "serve": "the URLs below are asked of the same API, served in this process",
    "reprocess": "needs running workers; tests/e2e/test_reprocess.py runs every form",
    "index init": "on Elasticsearch; `index status` runs here on the embedded index",
    "index migrate": "tests/integration and tests/e2e/test_reprocess.py cover migrations",
    "kibana": "needs Kibana; tests/unit/test_kibana_objects.py checks the import",
}


def readme_lines() -> list[str]:
    """Lines of the README's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def readme_commands() -> list[list[str]]:
    return [shlex.split(line, comments=True)[1:] for line in readme_lines() if line.startswith(".venv/bin/wirewatch ")]


def readme_urls() -> list[str]:
    return [m for line in readme_lines() if line.startswith("curl ") for m in re.findall(r"'(http[^']+)'", line)]


def _skip_reason(argv: list[str]) -> str | None:
    for prefix, why in SKIP.items():
        if argv[: len(prefix.split())] == prefix.split():
            return why
    return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("readme-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_") or k.startswith("WIREWATCH_TEST_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["WIREWATCH_DATA_DIR"] = str(data)
    proc = subprocess.run([*WIREWATCH, "demo", "--json"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(proc.stdout)
    assert summary["searchable"] == summary["articles"] == 44
    assert summary["stories"] == 36
    assert len(summary["pages"]) == 44 and all(p["served_to_searchable_s"] > 0 for p in summary["pages"])
    return {"env": env, "data": data, "summary": summary, "stderr": proc.stderr}


def wirewatch(demo: dict[str, Any], argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WIREWATCH, *argv], env=demo["env"], capture_output=True, text=True, timeout=300)


def test_the_readme_shows_commands_and_urls() -> None:
    commands = readme_commands()
    assert len(commands) >= 15
    assert {c[0] for c in commands} >= {"search", "story", "trace", "feeds", "status"}
    assert len(readme_urls()) >= 4


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_command(demo: dict[str, Any], argv: list[str]) -> None:
    why = _skip_reason(argv)
    if why:
        pytest.skip(why)
    base = demo["summary"]["base_url"]
    index = SqliteIndex(demo["data"] / "index" / "stories.sqlite")
    story_id = index.search(SearchQuery(text="Kaliningrad")).hits[0].story_id
    index.close()
    argv = [a.replace("STORY_ID", story_id).replace("http://127.0.0.1:8765", base) for a in argv]
    proc = wirewatch(demo, argv)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    out = proc.stdout
    command = argv[0]
    if command in ("search", "claims"):
        if "--json" in argv:
            total = json.loads(out)["total"]
        else:
            m = re.match(r"(\d+) (matching stor|distinct claim)", out)
            assert m, out[:200]
            total = int(m.group(1))
        assert total >= 1, f"{argv} found nothing on the demo data"
    elif command == "story":
        assert out.splitlines()[0] and "cluster " in out and "Kaliningrad" in out
    elif command == "trace":
        stages = {line.split()[3] for line in out.splitlines()[1:] if "UTC" in line}
        assert {"fetch", "clean", "index"} <= stages, out
    elif command == "feeds":
        rows = [line for line in out.splitlines()[1:] if line.startswith("ok ")]
        assert len(rows) == 4 and all(base in r for r in rows), out
    elif command == "status":
        if "--json" in argv:
            status = json.loads(out)
            assert status["index"]["documents"] == 44
        else:
            assert "44" in out and "Feeds" in out
    elif command == "index":
        assert json.loads(out)["documents"] == 44
    elif command == "dead-letter":
        assert "dead-letter record" in out
    else:
        pytest.fail(f"the README shows `wirewatch {' '.join(argv)}`: say here what it must return, or SKIP it")


@pytest.fixture(scope="module")
def api_url(demo: dict[str, Any]) -> Iterator[str]:
    """The API and /metrics on the demo's data, with its embedded Redis up, as `wirewatch serve` answers."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from workers import metrics
    from workers.runtime import Runtime
    from workers.services import EmbeddedRedis
    from workers.settings import Settings

    redis = EmbeddedRedis(demo["data"] / "redis")
    redis.start()
    runtime = Runtime(Settings(data_dir=demo["data"], feeds_file=str(demo["data"] / "demo-feeds.yaml")))
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(demo["data"] / "metrics"))  # what the demo's workers wrote
    registry.register(metrics.StateCollector(runtime))
    server = make_server(Api(runtime.index), "127.0.0.1", 0, metrics=lambda: metrics.exposition(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    redis.stop()


@pytest.mark.parametrize("url", readme_urls())
def test_readme_url(api_url: str, url: str) -> None:
    asked = re.sub(r"^http://127\.0\.0\.1:8080", api_url, url)
    with urllib.request.urlopen(asked, timeout=30) as resp:
        assert resp.status == 200
        raw = resp.read()
    path = url.split("8080", 1)[1].split("?")[0]
    if path == "/metrics":
        check_metrics(raw.decode())
        return
    body = json.loads(raw)
    if path in ("/api/search", "/api/claims"):
        assert body["total"] >= 1 and body["hits"], f"{url} found nothing on the demo data"
        for hit in body["hits"]:
            assert "&amp;" not in json.dumps(hit) and "&#" not in hit.get("snippet", "")
    if path == "/api/search" and "facets=true" in url:
        assert sum(v["count"] for v in body["histogram"]) == body["total"]
    if path == "/api/openapi.json":
        assert "/api/search" in body["paths"]


def _facets(api_url: str, query: str) -> tuple[int, dict[str, list[str]]]:
    url = f"{api_url}/api/search?facets=true&size=1" + (f"&q={urllib.parse.quote(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.loads(resp.read())
    facets = {kind: [v["value"] for v in body["facets"].get(kind, [])] for kind in ("person", "org", "speaker")}
    return body["total"], facets


def test_demo_facets_show_no_place_or_demonym_as_a_person_organisation_or_speaker(api_url: str) -> None:
    """The search page's people, organisation and speaker facets on the demo's data: no place or demonym
    of the demo's stories (states may speak: "Russia said"), no name twice in two cases. Asked over all
    stories and over the stories naming each place or demonym, whose facets then hold those stories' names."""
    wrong: dict[str, Any] = {}
    for query in ["", *(f'"{name}"' for name in sorted(demo_places() | demo_demonyms()))]:
        _total, facets = _facets(api_url, query)
        if misfiled(facets):
            wrong[query] = misfiled(facets)
        if dups := {kind: case_duplicates(values) for kind, values in facets.items() if case_duplicates(values)}:
            wrong[f"{query} (case)"] = dups
    assert wrong == {}
    for name in ("Azulmar", "Cork", "Algarve"):
        total, facets = _facets(api_url, f'"{name}"')
        assert total >= 1 and not [kind for kind, values in facets.items() if name in values], facets


def check_metrics(text: str) -> None:
    """After the demo: every article fetched once, its stories indexed, its four feeds healthy."""
    from prometheus_client.parser import text_string_to_metric_families

    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert got[("wirewatch_state_up", ())] == 1
    assert got[("wirewatch_tasks_total", (("outcome", "ok"), ("stage", "fetch")))] == 44
    assert got[("wirewatch_stage_outcomes_total", (("outcome", "ok"), ("stage", "fetch")))] == 44
    # Extraction runs in batches through nlp.pipe: fewer tasks than stories, every story recorded.
    assert got[("wirewatch_task_duration_seconds_count", (("stage", "extract"),))] >= 1
    assert got[("wirewatch_stage_outcomes_total", (("outcome", "ok"), ("stage", "extract")))] == 44
    assert got[("wirewatch_index_documents", ())] == 44 and got[("wirewatch_index_stories", ())] == 36
    assert got[("wirewatch_dedupe_copies_folded", ())] == 8
    assert got[("wirewatch_feeds", (("health", "healthy"),))] == 4
    assert got[("wirewatch_dead_letters", ())] == 0
    for queue in QUEUES:  # every queue by kind of work is reported, empty or not
        assert ("wirewatch_queue_messages", (("queue", queue),)) in got
    hosts = {dict(k[1])["host"] for k in got if k[0] == "wirewatch_host_requests_total"}
    assert hosts == {"127.0.0.1"}


def test_demo_again_says_nothing_new(demo: dict[str, Any]) -> None:
    proc = wirewatch(demo, ["demo"])
    assert proc.returncode == 0
    assert "44 articles already indexed: nothing new; `wirewatch demo --fresh` starts over" in proc.stderr
    assert "36 stories" in proc.stdout


def test_status_lists_a_running_worker_and_its_queues(demo: dict[str, Any]) -> None:
    from workers.services import EmbeddedRedis, WorkerSet
    from workers.settings import Settings

    settings = Settings(data_dir=demo["data"], feeds_file=str(demo["data"] / "demo-feeds.yaml"))
    redis = EmbeddedRedis(demo["data"] / "redis")
    redis.start()
    workers = WorkerSet(settings, beat=False, log_dir=demo["data"] / "logs")
    workers.start()
    try:
        deadline = time.monotonic() + 120
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            proc = wirewatch(demo, ["status", "--json", "--timeout", "2"])
            assert proc.returncode == 0, proc.stderr
            status = json.loads(proc.stdout)
            if len(status["workers"]) == 4:
                break
            time.sleep(2)
        # One worker of each kind, each consuming its own queues.
        queues = sorted(tuple(w["queues"]) for w in status["workers"].values())
        assert queues == [("control",), ("feeds", "fetch", "webhooks"), ("index",), ("process",)], status["workers"]
        table = wirewatch(demo, ["status", "--timeout", "2"]).stdout
        assert "Workers" in table and next(iter(status["workers"])) in table
    finally:
        workers.stop()
        redis.stop()
