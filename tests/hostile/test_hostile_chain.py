"""The whole chain against the hostile server: real worker and beat processes, embedded Redis and SQLite.

Every hostile feed is polled alongside the healthy ones. The healthy stories must all become
searchable; every hostile feed must be recorded as failing with its cause; every bad article in
the mixed feed must end in a recorded failure and stay out of the index; and the workers must live.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipeline.fetch import story_id_for, trace_id_for, utf8_mojibake
from tests.hostile.server import (
    ALL_FEEDS,
    CANARY_REDIRECTS,
    EXPANSION_FEEDS,
    FAILING_FEEDS,
    HEALTHY_ARTICLES,
    HEALTHY_FEEDS,
    ISOLATED_ARTICLES,
    ISOLATED_BAD_ITEMS,
    MIXED_BAD_ARTICLES,
    TOLERATED_FEEDS,
    HostileServer,
)
from workers import cli
from workers.adapters.redis_state import RedisEntryLedger, RedisFeedState, connect
from workers.runtime import Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings

pytestmark = pytest.mark.e2e

DEADLINE_S = 120
FAST: dict[str, Any] = {
    "poll_min_interval_s": 1.0,
    "dispatch_every_s": 0.5,
    "host_min_gap_s": 0.0,
    "host_max_concurrency": 16,
}
LIMITS: dict[str, Any] = {  # allow_hosts: exactly the hostile server's host:port, set once it has one
    "connect_timeout_s": 2.0,
    "read_timeout_s": 2.0,
    "total_timeout_s": 5.0,
    "max_body_bytes": 1_000_000,
    "task_max_retries": 1,
    # Hostile feeds hold worker slots for seconds at a time (trickles, stalls); four slots keep the
    # healthy stories moving on two cores.
    "worker_concurrency": 4,
}
BACKOFF_CHECKED = ("/404", "/html-not-feed", "/redirect-private")
TERMINAL_WAITING = ("queued", "revision", "retrying", "ok")
MAX_DEAD_LETTER_BYTES = 64 * 1024


@dataclass
class Observed:
    server: HostileServer
    runtime: Runtime
    feeds: dict[str, dict[str, str]]  # feed URL -> its state, read once the run settled
    ledger: RedisEntryLedger
    alive: bool
    settled_s: float
    log_dir: Path
    redis_info: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # what the CLI needs to read this run's state

    def feed(self, path: str) -> dict[str, str]:
        return self.feeds.get(self.server.url(path), {})

    def sid(self, path: str) -> str:
        return story_id_for(self.server.url(path))

    def logs(self, limit: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-limit:]}" for p in self.log_dir.glob("*.log"))


def _terminal(trace: list[dict[str, Any]]) -> bool:
    return bool(trace) and trace[-1]["outcome"] not in TERMINAL_WAITING


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    data = tmp_path_factory.mktemp("hostile-chain")
    server = HostileServer(trickle_cap_s=30.0).start()
    feeds_file = data / "feeds.yaml"
    feeds_file.write_text(
        json.dumps({"feeds": [{"name": path, "url": server.url(path), "interval_s": 1} for path in ALL_FEEDS]})
    )
    embedded = EmbeddedRedis(data / "redis")
    embedded.start()
    settings = Settings(data_dir=data, feeds_file=str(feeds_file), log_level="WARNING", **FAST, **LIMITS,
                        allow_hosts=(server.allow_entry,))
    runtime = Runtime(settings)
    runtime.index  # noqa: B018 - prepared before workers start, as `wirewatch run` does
    client = connect(embedded.url)
    feed_state = RedisFeedState(client)
    ledger = RedisEntryLedger(client)
    healthy = [story_id_for(server.url(p)) for p in HEALTHY_ARTICLES + ISOLATED_ARTICLES]
    bad = [story_id_for(server.url(p)) for p in MIXED_BAD_ARTICLES]
    feed_urls = [server.url(p) for p in ALL_FEEDS]
    workers = WorkerSet(settings, log_dir=data / "logs")
    started = time.monotonic()
    workers.start()
    try:
        deadline = started + DEADLINE_S
        while time.monotonic() < deadline and workers.alive():
            states = feed_state.all()
            if (
                len(runtime.index.present(healthy)) == len(healthy)
                and all(_terminal(ledger.trace(sid)) for sid in bad)
                and all(states.get(url, {}).get("status") for url in feed_urls)
                # the backoff test needs a second poll of these; under load it can take a while
                and all(server.requests.get(p, 0) >= 2 for p in BACKOFF_CHECKED)
            ):
                break
            time.sleep(0.5)
        settled = time.monotonic() - started
        alive = workers.alive()
        feeds = feed_state.all()
        info = client.info("memory")
    finally:
        server.stop()  # first: in-flight trickles end now, so the workers' warm shutdown is quick
        workers.stop()
    runtime.index.refresh()
    env = {"WIREWATCH_REDIS_URL": embedded.url, "WIREWATCH_DATA_DIR": str(data), "WIREWATCH_FEEDS_FILE": str(feeds_file)}
    yield Observed(server, runtime, feeds, ledger, alive, settled, data / "logs", info, env)
    client.close()
    embedded.stop()


def test_workers_survive_and_the_run_settles(observed: Observed) -> None:
    assert observed.alive, f"a worker or beat process died\n{observed.logs()}"
    assert observed.settled_s < DEADLINE_S, f"not settled within {DEADLINE_S}s\n{observed.logs()}"


def test_every_healthy_story_is_searchable(observed: Observed) -> None:
    wanted = {observed.sid(p): p for p in HEALTHY_ARTICLES + ISOLATED_ARTICLES}
    missing = set(wanted) - observed.runtime.index.present(wanted)
    traces = {wanted[sid]: observed.ledger.trace(sid) for sid in list(missing)[:3]}
    assert not missing, f"{len(missing)} healthy stories never became searchable; traces: {traces}"
    for sid, path in wanted.items():
        stages = [(e["stage"], e["outcome"]) for e in observed.ledger.trace(sid)]
        assert stages[0] == ("poll", "queued"), (path, stages)
        assert stages[-1] == ("index", "ok"), (path, stages)


@pytest.mark.parametrize("path", HEALTHY_FEEDS)
def test_healthy_feeds_are_ok(observed: Observed, path: str) -> None:
    state = observed.feed(path)
    assert state.get("status") == "ok", state
    assert state.get("consecutive_failures") == "0", state
    assert "last_error" not in state, state
    assert int(state["entries_seen"]) == (9 if path == "/mixed/rss" else 5), state


REFUSED = r"non-public address .* is not in the allow-list"
FEED_ERRORS = [
    ("/malformed", r"^bad_content: malformed feed with no usable entry"),
    ("/huge-feed", r"^too_large: body exceeds 1000000 bytes after decompression"),
    ("/huge-feed-declared", r"^too_large: declared 20971520 bytes"),
    ("/gzip-bomb", r"^too_large: body exceeds 1000000 bytes after decompression"),
    ("/gzip-bomb-nested", r"^bad_content: more than one content encoding"),
    ("/redirect-loop", r"^permanent: more than 5 redirects starting at "),
    ("/redirect-private", r"^blocked_redirect: redirect from \S+/redirect-private to http://10\.0\.0\.1/feed refused: "
     + REFUSED),
    ("/redirect-metadata", r"^blocked_redirect: .* to http://169\.254\.169\.254/latest/meta-data/ refused: " + REFUSED),
    ("/redirect-decimal", r"^blocked_redirect: .* refused: 167772161 resolves to non-public address 10\.0\.0\.1:80 "),
    ("/redirect-ipv6-loopback", r"^blocked_redirect: .* refused: non-public address \[::1\]:\d+ "),
    ("/redirect-file", r"^blocked_redirect: .* to file:///etc/passwd refused: scheme 'file' is not allowed"),
    ("/redirect-other-port", r"^blocked_redirect: .* to http://127\.0\.0\.1:\d+/ok/rss refused: " + REFUSED),
    ("/redirect-other-port-decimal", r"^blocked_redirect: .* to http://2130706433:\d+/ok/rss refused: 2130706433 resolves to "
     + REFUSED),
    ("/redirect-other-port-name", r"^blocked_redirect: .* to http://localhost:\d+/ok/rss refused: localhost resolves to "
     + REFUSED),
    ("/trickle", r"^transient: total time limit of 5\.0s exceeded"),
    ("/trickle-headers", r"^transient: .*(time limit|timeout)"),
    ("/slow-headers", r"^transient: timeout fetching .*ReadTimeout"),
    ("/html-not-feed", r"^bad_content: an HTML page where a feed should be"),
    ("/empty", r"^bad_content: empty feed body"),
    ("/204", r"^permanent: HTTP 204 No Content from \S+: the server sent no body"),
    ("/404", r"^permanent: HTTP 404 from "),
    ("/410", r"^gone: HTTP 410 Gone from "),
    ("/500", r"^transient: HTTP 500 from "),
    ("/429", r"^transient: HTTP 429 from "),
    ("/reset", r"^transient: network error fetching "),
]


def test_every_failing_feed_has_an_expectation() -> None:
    paths = [p.values[0] if hasattr(p, "values") else p[0] for p in FEED_ERRORS]
    assert sorted(paths) == sorted(FAILING_FEEDS)


@pytest.mark.parametrize(("path", "pattern"), FEED_ERRORS)
def test_hostile_feed_recorded_as_failing_with_its_cause(observed: Observed, path: str, pattern: str) -> None:
    state = observed.feed(path)
    assert state.get("status") == ("gone" if path == "/410" else "failing"), f"{path}: {state}"
    assert re.search(pattern, state.get("last_error", "")), f"{path}: {state.get('last_error')!r} !~ {pattern!r}"
    assert int(state["consecutive_failures"]) >= 1 and int(state["errors"]) >= 1, state
    assert "last_success" not in state, state
    assert int(state.get("entries_seen", "0")) == 0, state


def test_gone_feed_is_asked_again_only_daily(observed: Observed) -> None:
    state = observed.feed("/410")
    assert float(state["next_due"]) - float(state["last_poll"]) >= 86400, state
    assert observed.server.requests.get("/410") == 1


def test_canary_port_never_contacted(observed: Observed) -> None:
    """Redirects to another port of the allowed address, under three spellings, polled again and again."""
    assert all(observed.server.requests.get(p, 0) >= 1 for p in CANARY_REDIRECTS)
    assert observed.server.canary.seen == 0


def test_429_feed_waits_as_asked(observed: Observed) -> None:
    state = observed.feed("/429")
    assert float(state["next_due"]) - float(state["last_poll"]) >= 120, state
    # Retry-After kept it to a single poll during the whole run.
    assert observed.server.requests.get("/429") == 1


@pytest.mark.parametrize("path", BACKOFF_CHECKED)
def test_failing_feeds_back_off(observed: Observed, path: str) -> None:
    """A broken feed is polled less and less often (1, 2, 4 ... s): a handful of polls, not one a second."""
    polls = observed.server.requests.get(path, 0)
    assert 2 <= polls <= 3 + math.log2(observed.settled_s), (path, polls, observed.settled_s)


@pytest.mark.parametrize(
    ("path", "title", "override"),
    [
        ("/wrong-charset", "Wiadomości z Łodzi", "declared iso8859-1, decoded as utf-8"),
        ("/cyrillic", "Новости Петербурга", None),
        ("/bom", "Zürcher Rundschau", None),
        ("/cyrillic-declared-utf8", "Новости Петербурга", "declared utf-8, decoded as cp1251"),
    ],
)
def test_odd_encodings_are_ok_with_the_right_title(
    observed: Observed, path: str, title: str, override: str | None
) -> None:
    assert path in TOLERATED_FEEDS
    state = observed.feed(path)
    assert state.get("status") == "ok", state
    assert state.get("title") == title
    assert int(state["entries_seen"]) == (3 if path == "/wrong-charset" else 2), state
    expected = [{"kind": "charset_override", "count": 1, "examples": [override]}] if override else []
    assert RedisFeedState.problems_of(state) == expected


@pytest.mark.parametrize("path", EXPANSION_FEEDS)
def test_entity_declaring_feeds_refused_with_the_reason(observed: Observed, path: str) -> None:
    state = observed.feed(path)
    assert state.get("status") == "failing", state
    assert re.match(r"bad_content: the feed declares \d+ entit(y|ies) in an internal DTD", state["last_error"]), state
    assert int(state.get("entries_seen", "0")) == 0
    assert max(len(v) for v in state.values()) <= 10_000


def test_isolated_feed_good_items_arrive_bad_ones_recorded(observed: Observed) -> None:
    state = observed.feed("/isolated/rss")
    assert state.get("status") == "ok", state
    assert int(state["entries_seen"]) == 2, state
    counts = {p["kind"]: p["count"] for p in RedisFeedState.problems_of(state)}
    assert counts == {"item_rejected": len(ISOLATED_BAD_ITEMS), "title_cut": 1}, state
    assert RedisFeedState.problem_totals(state)["item_rejected"] >= len(ISOLATED_BAD_ITEMS)
    for link, reason in ISOLATED_BAD_ITEMS:
        if not link:
            continue
        trace = observed.ledger.trace(trace_id_for(link.replace("$base", observed.server.base_url)))
        outcomes = {(e["stage"], e["outcome"]) for e in trace}
        assert outcomes == {("poll", "rejected")}, (link, trace)  # recorded, and never queued
        assert reason in trace[-1]["detail"] and trace[-1]["feed"] == observed.server.url("/isolated/rss")


def test_mixed_charset_feed_keeps_its_clean_item(observed: Observed) -> None:
    state = observed.feed("/charset-mixed")
    assert state.get("status") == "ok", state
    assert int(state["entries_seen"]) == 1, state
    counts = {p["kind"]: p["count"] for p in RedisFeedState.problems_of(state)}
    assert counts == {"charset_unclean": 1, "item_rejected": 1}, state


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def test_nothing_stored_is_garbled(observed: Observed) -> None:
    """No feed state nor indexed document holds U+FFFD or a single-byte reading of UTF-8."""
    stored = list(_strings(observed.feeds))
    sids = {observed.sid(p) for p in HEALTHY_ARTICLES + ISOLATED_ARTICLES}
    docs = [observed.runtime.index.get(sid) for sid in sids]
    assert all(docs)
    stored += list(_strings(docs))
    assert not [s for s in stored if "\ufffd" in s]
    assert not [s for s in stored if utf8_mojibake(s)], [utf8_mojibake(s) for s in stored if utf8_mojibake(s)]


def test_messages_and_dead_letters_stay_small(observed: Observed) -> None:
    """Redis holds references and small JSON: no hostile feed can make a message or record balloon."""
    sizes = {f"{d['stage']}:{d['story_id']}": len(json.dumps(d)) for d in observed.ledger.dead_letters()}
    big = {k: v for k, v in sizes.items() if v > MAX_DEAD_LETTER_BYTES}
    assert not big, f"dead-letter records over {MAX_DEAD_LETTER_BYTES} bytes: {big}"
    peak = int(observed.redis_info["used_memory_peak"])
    assert peak < 64 * 1024 * 1024, f"Redis peaked at {peak / 1e6:.0f} MB"


BAD_ARTICLE_ERRORS = [
    ("/article/too-large", r"^too_large: body exceeds 1000000 bytes after decompression"),
    ("/article/pdf", r"^bad_content: content type 'application/pdf' is not an HTML page"),
    ("/article/empty", r"^bad_content: empty body"),
    ("/article/404", r"^permanent: HTTP 404 from "),
    ("/article/slow", r"^transient: timeout fetching .*ReadTimeout"),
    ("/article/redirect-private", r"^blocked_redirect: .* to http://169\.254\.169\.254/latest/meta-data/ refused: "
     + REFUSED),
]


def test_every_bad_article_has_an_expectation() -> None:
    assert sorted(p for p, _ in BAD_ARTICLE_ERRORS) == sorted(MIXED_BAD_ARTICLES)


@pytest.mark.parametrize(("path", "pattern"), BAD_ARTICLE_ERRORS)
def test_bad_article_traced_to_a_recorded_failure(observed: Observed, path: str, pattern: str) -> None:
    sid = observed.sid(path)
    trace = observed.ledger.trace(sid)
    outcomes = [(e["stage"], e["outcome"]) for e in trace]
    assert outcomes and outcomes[0] == ("poll", "queued"), outcomes
    last = trace[-1]
    assert (last["stage"], last["outcome"]) == ("fetch", "failed"), outcomes
    assert re.search(pattern, last["detail"]), f"{path}: {last['detail']!r} !~ {pattern!r}"
    # Transient failures get their retry first; permanent ones go straight to the dead letters.
    retries = outcomes.count(("fetch", "retrying"))
    assert retries == (1 if path == "/article/slow" else 0), outcomes
    assert sid not in observed.runtime.index.present([sid])
    assert observed.runtime.index.get(sid) is None
    letters = [d for d in observed.ledger.dead_letters() if d["story_id"] == sid]
    assert len(letters) == 1 and letters[0]["stage"] == "fetch", letters


def _cli(observed: Observed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    for key in [k for k in os.environ if k.startswith("WIREWATCH_") and not k.startswith("WIREWATCH_TEST_")]:
        monkeypatch.delenv(key)
    for key, value in observed.env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def test_feeds_json_shows_last_problems_with_counts_and_iso_times(
    observed: Observed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {r["url"]: r for r in json.loads(_cli(observed, monkeypatch, capsys, "feeds", "--json"))}
    isolated = rows[observed.server.url("/isolated/rss")]
    counts = {p["kind"]: p["count"] for p in isolated["last_problems"]}
    assert counts == {"item_rejected": len(ISOLATED_BAD_ITEMS), "title_cut": 1}
    examples = next(p["examples"] for p in isolated["last_problems"] if p["kind"] == "item_rejected")
    assert any("malformed URL" in e for e in examples)
    assert isolated["problem_totals"]["item_rejected"] >= len(ISOLATED_BAD_ITEMS)
    for key in ("last_poll", "last_success", "next_due", "last_problems_at"):
        assert ISO.match(isolated[key] or ""), (key, isolated[key])
    gone = rows[observed.server.url("/410")]
    assert gone["status"] == "gone" and ISO.match(gone["last_error_at"]) and gone["last_success"] is None
    assert rows[observed.server.url("/cyrillic-declared-utf8")]["last_problems"] == [
        {"kind": "charset_override", "count": 1, "examples": ["declared utf-8, decoded as cp1251"]}
    ]
    assert rows[observed.server.url("/ok/rss")]["last_problems"] == []


def test_feeds_table_shows_last_problems(
    observed: Observed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _cli(observed, monkeypatch, capsys, "feeds")
    assert f"last poll: {len(ISOLATED_BAD_ITEMS)} x item_rejected: " in out
    assert "last poll: 1 x title_cut: " in out
    assert "last poll: 1 x charset_override: declared utf-8, decoded as cp1251" in out
    assert re.search(r"^gone +", out, re.MULTILINE)


def test_trace_shows_a_rejected_item_under_its_link(
    observed: Observed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _cli(observed, monkeypatch, capsys, "trace", "http://[fd00::1/isolated/ipv6")
    assert re.search(r"poll +rejected +http://\[fd00::1/isolated/ipv6: malformed URL", out), out


def test_feeds_check_lists_each_rejected_item(
    observed: Observed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`feeds check` against a live feed: the server is gone by now, so it reads the corpus feed from a fresh one."""
    server = HostileServer().start()
    try:
        env = {**observed.env, "WIREWATCH_ALLOW_HOSTS": server.allow_entry}
        report = json.loads(_cli(Observed(**{**observed.__dict__, "env": env}), monkeypatch, capsys,
                                 "feeds", "check", server.url("/isolated/rss"), "--json"))
    finally:
        server.stop()
    assert report["ok"] is True and report["entries"] == 2
    kinds = [p["kind"] for p in report["problems"]]
    assert kinds.count("item_rejected") == len(ISOLATED_BAD_ITEMS) and kinds.count("title_cut") == 1
    assert {p["link"] for p in report["problems"] if p.get("link")} >= {server.url("/gone/isolated-mojibake")}
