"""wirewatch: follow a news story as the wires report it.

Polls feeds, fetches, cleans, deduplicates and indexes stories; search them from here, the HTTP API
(`wirewatch serve`) or Kibana. Settings come from WIREWATCH_* environment variables (see the README).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import socket
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipeline.fetch import trace_id_for
from pipeline.models import ClaimQuery, SearchQuery, SearchResult
from workers import kibana
from workers.cli_errors import (
    CommandError,
    Parser,
    UsageError,
    bounded_int,
    explain,
    quiet_broken_pipe,
    time_bound,
)
from workers.dispatcher import PAUSE_KEY, host_of
from workers.health import host_budget_table, over_budget_text
from workers.runtime import FEEDS_PROBLEM_KEY, Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings, SettingsError
from workers.topology import KIND_NAMES, worker_kinds

_loaded: list[Settings] = []  # the settings this command read, for naming services in error messages


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise UsageError(f"{exc}; fix or unset it") from exc
    _loaded.append(settings)
    return settings


def plural(n: int, word: str, many: str = "") -> str:
    """'1 story', '2 stories'."""
    return f"{n} {word if n == 1 else many or word + 's'}"


@contextlib.contextmanager
def _redis_up(settings: Settings) -> Iterator[None]:
    """Make sure Redis answers: the configured one, or the embedded one under the data folder."""
    if not settings.embedded_redis:
        yield
        return
    server = EmbeddedRedis(settings.data_dir / "redis")
    server.start()
    try:
        yield
    finally:
        server.stop()


def _describe(settings: Settings) -> str:
    broker = "embedded Redis (data folder)" if settings.embedded_redis else "Redis"
    index = "embedded SQLite FTS5 index" if settings.embedded_index else "Elasticsearch"
    return f"{broker} + {index}, data in {settings.data_dir.resolve()}"


# --- run and demo ----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    settings = replace(settings, data_dir=settings.data_dir.resolve())
    print(f"wirewatch: running on {_describe(settings)}", file=sys.stderr)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with _redis_up(settings):
        kinds = list(dict.fromkeys(args.only)) if args.only else list(KIND_NAMES)
        if "index" in kinds or "control" in kinds:
            Runtime(settings).index  # noqa: B018 - create the index before workers race to
        workers = WorkerSet(settings, beat=not args.no_beat, kinds=kinds)
        for name, kind in worker_kinds(fetch_threads=settings.fetch_threads).items():
            if name in kinds:
                size = kind.concurrency
                if name == "process" and settings.worker_concurrency:
                    size = settings.worker_concurrency
                queues = ", ".join(kind.queues)
                print(f"wirewatch: {name} worker ({kind.pool} x{size}, queues {queues}): {kind.what}", file=sys.stderr)
        workers.start()
        try:
            while not stop["now"] and workers.alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            workers.stop()
    return 0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# What a demo run leaves in the data folder; `demo --fresh` removes exactly these (embedded services only).
DEMO_LEFTOVERS = ("index", "redis", "raw", "logs", "metrics", "demo-feeds.yaml", "beat-schedule")


def _start_afresh(settings: Settings) -> None:
    import shutil

    if not (settings.embedded_redis and settings.embedded_index):
        raise UsageError(
            "--fresh clears the embedded services in the data folder; with WIREWATCH_REDIS_URL or "
            "WIREWATCH_ELASTICSEARCH_URL set, empty those yourself (or unset them)"
        )
    data = settings.data_dir.resolve()
    removed = []
    for entry in sorted(data.glob("*")) if data.is_dir() else []:
        if entry.name in DEMO_LEFTOVERS or entry.name.startswith("beat-schedule"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed.append(entry.name)
    print(f"wirewatch demo: starting afresh (removed {', '.join(removed) or 'nothing'} in {data})", file=sys.stderr)


def _wait_for_ingest(
    index: Any, expected: set[str], seen_at: dict[str, float], workers: WorkerSet, timeout_s: float
) -> None:
    """Note when each story becomes searchable, with a progress bar (or a line every few seconds off a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    last_line = 0.0
    with Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("searchable"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("ingest", total=len(expected), completed=len(seen_at))
        while time.monotonic() < deadline and workers.alive():
            now = time.time()
            for sid in index.present(expected - set(seen_at)):
                seen_at[sid] = now
            progress.update(task, completed=len(seen_at))
            if not console.is_terminal and time.monotonic() - last_line >= 5:
                print(
                    f"wirewatch demo: {len(seen_at)}/{len(expected)} searchable after "
                    f"{time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                )
                last_line = time.monotonic()
            if len(seen_at) == len(expected):
                break
            time.sleep(0.1)


def _page_table(pages: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Each page: seconds from served by its outlet to searchable", title_justify="left")
    table.add_column("served UTC", no_wrap=True)
    table.add_column("outlet", no_wrap=True)
    table.add_column("title", overflow="ellipsis", max_width=64, no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for page in pages:
        table.add_row(
            time.strftime("%H:%M:%S", time.gmtime(page["served_at"])),
            page["outlet"],
            page["title"],
            f"{page['served_to_searchable_s']:.2f}",
        )
    console = Console()
    (console if console.is_terminal else Console(width=120)).print(table)


def cmd_demo(args: argparse.Namespace) -> int:
    from workers.demo import DemoServer

    base = _settings()
    if args.fresh:
        _start_afresh(base)
    server = DemoServer(base.config_dir / "demo" / "stories.yaml", spacing_s=args.spacing)
    data = base.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    feeds_file = data / "demo-feeds.yaml"
    feeds_file.write_text(
        json.dumps(
            {
                "feeds": [
                    {"name": name, "url": url, "interval_s": args.poll_interval} for name, url in server.feed_urls()
                ]
            }
        )
    )
    # The allow-list opens exactly the demo server (host:port), no other port of this machine.
    door = server.base_url.split("//", 1)[1]
    # One local server stands in for many outlets: poll it often and skip the per-host politeness gap.
    settings = replace(
        base,
        feeds_file=str(feeds_file),
        data_dir=data,
        allow_hosts=tuple(dict.fromkeys((*base.allow_hosts, door))),
        poll_min_interval_s=1.0,
        dispatch_every_s=1.0,
        host_min_gap_s=0.0,
        host_max_concurrency=16,
    )
    _loaded.append(settings)
    expected = {server.story_id(a): a for a in server.articles}
    print(
        f"wirewatch demo: {len(server.articles)} articles from {len(server.outlets)} outlets at "
        f"{server.base_url}, on {_describe(settings)}",
        file=sys.stderr,
    )
    with _redis_up(settings):
        index = Runtime(settings).index
        already = index.present(expected)
        seen_at: dict[str, float] = {}
        if len(already) == len(expected):
            server.close()
            print(
                f"wirewatch demo: {plural(len(already), 'article')} already indexed: nothing new; "
                f"`wirewatch demo --fresh` starts over",
                file=sys.stderr,
            )
        else:
            if already:
                print(
                    f"wirewatch demo: {len(already)} of {len(expected)} already indexed by an earlier run; "
                    f"timing the other {len(expected) - len(already)}",
                    file=sys.stderr,
                )
            server.start()
            workers = WorkerSet(settings, log_dir=data / "logs")
            workers.start()
            print(f"wirewatch demo: worker and beat logs in {data / 'logs'}", file=sys.stderr)
            try:
                _wait_for_ingest(index, set(expected) - already, seen_at, workers, args.timeout)
            finally:
                workers.stop()
                server.stop()
        index.refresh()
        pages = sorted(
            (
                {
                    "path": a.path,
                    "outlet": a.outlet_name,
                    "title": a.title,
                    "served_at": server.served[a.path],
                    "served_to_searchable_s": round(seen_at[sid] - server.served[a.path], 3),
                }
                for sid, a in expected.items()
                if sid in seen_at and a.path in server.served
            ),
            key=lambda p: p["served_at"],
        )
        latencies = [p["served_to_searchable_s"] for p in pages]
        missing = [a.path for sid, a in expected.items() if sid not in seen_at and sid not in already]
        summary: dict[str, Any] = {
            "base_url": server.base_url,
            "articles": len(expected),
            "searchable": len(seen_at) + len(already),
            "missing": missing,
            "already_indexed_before": len(already),
            "served_to_searchable_p50_s": round(_percentile(latencies, 0.5), 3) if latencies else None,
            "served_to_searchable_p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
            "served_to_searchable_mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
            "stories": index.search(SearchQuery(size=0)).total,
            "pages": pages,
        }
        if not latencies:
            summary["note"] = "nothing was fetched in this run, so there are no times; `wirewatch demo --fresh`"
        if args.json:
            print(json.dumps(summary, indent=2))
            return 0 if not missing else 1
        if pages:
            _page_table(pages)
            print(
                f"served -> searchable: p50 {summary['served_to_searchable_p50_s']} s, "
                f"p95 {summary['served_to_searchable_p95_s']} s, mean {summary['served_to_searchable_mean_s']} s "
                f"over {plural(len(pages), 'page')}"
            )
        print(
            f"{summary['searchable']} of {len(expected)} articles searchable as "
            f"{plural(summary['stories'], 'story', 'stories')} (copies folded together)"
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
        for title, query in (
            ("Stories mentioning Kaliningrad, best first", SearchQuery(text="Kaliningrad", size=3)),
            (
                "Stories naming NATO (Wikidata Q7184), newest first",
                SearchQuery(entity="Q7184", sort="newest", size=3),
            ),
            ("Everything, newest first, copies collapsed", SearchQuery(size=5, sort="newest")),
        ):
            print(f"\n== {title}")
            _print_result(index.search(query))
        print(
            f"\nnext: `wirewatch search kaliningrad`, `wirewatch serve` (the search page), `wirewatch status`; "
            f"data in {data}"
        )
    return 0 if not missing else 1


# --- reading ---------------------------------------------------------------------------------


def _terminal_snippet(snippet: str) -> str:
    bold, off = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("[", "]")
    return re.sub(r"<mark>(.*?)</mark>", lambda m: f"{bold}{m.group(1)}{off}", snippet)


def _print_result(result: SearchResult) -> None:
    print(f"{plural(result.total, 'matching story', 'matching stories')}")
    for hit in result.hits:
        date = (hit.published or "")[:16].replace("T", " ")
        carried = f" · carried by {len(hit.sources)} outlets" if len(hit.sources) > 1 else ""
        print(f"\n{hit.title}\n  {hit.outlet} · {date}{carried} · {hit.url}")
        if len(hit.sources) > 1:
            print("  also: " + ", ".join(s.outlet for s in hit.sources if s.story_id != hit.story_id))
        print(f"  {_terminal_snippet(hit.snippet)}")


def cmd_search(args: argparse.Namespace) -> int:
    settings = _settings()
    query = SearchQuery(
        text=" ".join(args.query),
        entity=args.entity,
        speaker=args.speaker,
        outlet=args.source,
        language=args.language,
        min_topic=args.min_topic,
        date_from=args.date_from,
        date_to=args.date_to,
        sort=args.sort,
        size=args.size,
        collapse=not args.all_copies,
        facets=args.facets,
    )
    result = Runtime(settings).search_index.search(query)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _print_result(result)
        for name, values in result.facets.items():
            if values:
                print(f"\n{name}: " + ", ".join(f"{v.value} ({v.count})" for v in values))
        if result.histogram:
            print("\nper day: " + ", ".join(f"{v.value} {v.count}" for v in result.histogram))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    query = ClaimQuery(
        speaker=args.speaker,
        about=" ".join(args.about),
        date_from=args.date_from,
        date_to=args.date_to,
        size=args.size,
    )
    result = Runtime(_settings()).search_index.search_claims(query)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(plural(result.total, "distinct claim"))
    for hit in result.hits:
        when = (hit.first_published or "")[:16].replace("T", " ")
        print(f"\n{hit.speaker} ({hit.kind}, {hit.cue}): {hit.text}")
        print(f"  first: {when} · {hit.first_outlet} · {hit.first_title}")
        print(f"  repeated in {plural(hit.stories, 'story', 'stories')} by {plural(hit.outlets, 'outlet')}")
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9a-f]{32}", args.story_id):
        raise UsageError(
            f"{args.story_id!r} is not a story id: ids are 32 hex digits, as search results show "
            f"(`wirewatch search --json`); for a URL use `wirewatch trace URL`"
        )
    doc = Runtime(_settings()).search_index.get(args.story_id)
    if doc is None:
        raise CommandError(f"no story {args.story_id} in the index; `wirewatch trace {args.story_id}` tells why")
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    print(f"{doc['title']}\n{doc['outlet']} · {doc.get('published')} · {doc['url']}")
    cluster = doc["cluster"]
    role = (
        "canonical"
        if cluster["canonical"]
        else f"{cluster.get('match', 'copy')} copy, similarity {cluster.get('similarity')}"
    )
    print(
        f"cluster {cluster['id']} ({role}) · wire {cluster.get('wire') or 'unknown'} · "
        f"topic {doc['topic']['score']} · language {doc['language']}"
    )
    copies = Runtime(_settings()).search_index.search(
        SearchQuery(cluster=cluster["id"], collapse=False, size=100, sort="newest")
    )
    if copies.total > 1:
        print(f"carried by {copies.total} outlets: " + ", ".join(f"{h.outlet} <{h.url}>" for h in copies.hits))
    changes = cluster.get("changes") or {}
    for what in ("added", "removed"):
        for para in changes.get(what, []):
            print(f"  {what} against the canonical: {para[:160]}")
    for old, new in changes.get("changed", []):
        print(f"  changed: {old[:70]!r} -> {new[:70]!r}")
    for kind in ("person", "org", "place"):
        if doc["entities"][kind]:
            print(f"{kind}: {', '.join(doc['entities'][kind])}")
    for claim in doc["claims"]:
        print(f"- {claim['speaker']} ({claim['kind']}, {claim['cue']}): {claim['text']}")
    print()
    print(doc["text"])
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    settings = _settings()
    target = args.target
    # A link that is no valid URL (rejected from its feed) is traced under a hash of its text.
    sid = target if re.fullmatch(r"[0-9a-f]{32}", target) else trace_id_for(target)
    with _redis_up(settings):
        events = Runtime(settings).ledger.trace(sid)
    if args.json:
        print(json.dumps({"story_id": sid, "events": events}, indent=2))
        return 0
    print(f"story {sid}")
    if not events:
        print("  never seen: no feed has listed this URL yet")
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e["t"]))
        print(f"  {when}  {e['stage']:<8} {e['outcome']:<10} {e.get('detail', '')}")
    return 0


def _iso(value: str | None) -> str | None:
    """An epoch time as stored, in ISO 8601 (UTC), for --json."""
    if not value:
        return None
    return datetime.fromtimestamp(float(value), UTC).isoformat(timespec="seconds")


def cmd_outlets(args: argparse.Namespace) -> int:
    """What was learned per outlet: the paragraphs it repeats across its stories."""
    settings = _settings()
    runtime = Runtime(settings)
    options = runtime.boilerplate_options
    with _redis_up(settings):
        learned = runtime.boilerplate.learned(options.min_stories, options.max_outlets, args.limit)
    if args.json:
        print(json.dumps(learned, indent=2))
        return 0
    if not learned:
        print(f"nothing learned yet (a paragraph counts after {options.min_stories} stories of one outlet)")
        return 0
    for outlet, rows in learned.items():
        print(outlet)
        for row in rows:
            verdict = "removed" if row["removed"] else f"kept: wire copy ({row['outlets']} outlets)"
            print(f"  {row['stories']:>4} stories  {verdict:<28} {row['text'][:100]}")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from workers.adapters.redis_state import RedisFeedState

    if args.action == "check":
        if not args.url:
            raise SystemExit("wirewatch feeds check: give the feed URL")
        return cmd_feed_check(args)
    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        states = runtime.feed_state.all()
        pause = {k.decode(): v.decode() for k, v in runtime.redis.hgetall(PAUSE_KEY).items()}
        refused = {k.decode(): v.decode() for k, v in runtime.redis.hgetall(FEEDS_PROBLEM_KEY).items()}
    if refused:
        # The workers refused the last edit and run on the feed set before it.
        print(f"the workers refused the last edit of {refused.get('path')} at {_iso(refused.get('at'))} and run on "
              f"the feed set before it: {refused.get('problem')}", file=sys.stderr)
    rows = []
    for feed in runtime.feeds:
        st = states.get(feed.url, {})
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "status": st.get("status", "never polled"),
                "last_poll": _iso(st.get("last_poll")),
                "last_success": _iso(st.get("last_success")),
                "last_new": _iso(st.get("last_new")),
                "errors": int(st.get("errors", 0)),
                "consecutive_failures": int(st.get("consecutive_failures", 0)),
                "last_error": st.get("last_error", ""),
                "last_error_at": _iso(st.get("last_error_at")),
                "entries_seen": int(st.get("entries_seen", 0)),
                "items_per_day": float(st["items_per_day"]) if st.get("items_per_day") else None,
                "next_due": _iso(st.get("next_due")),
                "last_problems": RedisFeedState.problems_of(st),
                "last_problems_at": _iso(st.get("last_problems_at")),
                "problem_totals": RedisFeedState.problem_totals(st),
            }
        )
    budgets = host_budget_table(runtime, states)
    for r in rows:
        b = budgets.get(host_of(r["url"]))
        r["host"] = host_of(r["url"])
        r["host_over_budget_pct"] = round(100 * b.over_by, 1) if b else 0.0
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'status':<13} {'last success':<16} {'last new item':<16} {'errors':>6} {'items/day':>9}  feed")
    for r in rows:
        ipd = f"{r['items_per_day']:.1f}" if r["items_per_day"] is not None else "-"
        success = r["last_success"].replace("T", " ")[:16] if r["last_success"] else "-"
        new = r["last_new"].replace("T", " ")[:16] if r["last_new"] else "-"
        print(f"{r['status']:<13} {success:<16} {new:<16} {r['errors']:>6} {ipd:>9}  {r['name']} <{r['url']}>")
        if r["last_error"]:
            print(f"{'':<13} last error: {r['last_error']}")
        for problem in r["last_problems"]:
            example = problem["examples"][0] if problem.get("examples") else ""
            print(f"{'':<13} last poll: {problem['count']} x {problem['kind']}: {example}")
    if pause.get("paused") == "1":
        print(
            f"fetching is paused: {pause['backlog']} stories wait for processing (more than "
            f"WIREWATCH_PROCESS_BACKLOG_HIGH={runtime.settings.process_backlog_high}); add process workers"
        )
    for b in budgets.values():
        if b.over_by > 0:
            text = over_budget_text(b, runtime.settings.host_min_gap_s).removeprefix("over by ")
            print(f"host {b.host} is over its politeness budget by {text}; polls of its feeds run late")
    return 0


def cmd_feed_check(args: argparse.Namespace) -> int:
    """Fetch and parse one feed now, change nothing, and explain what was found."""
    from pipeline.errors import StageError
    from pipeline.fetch import parse_feed
    from pipeline.polling import entry_version

    settings = _settings()
    runtime = Runtime(settings)
    report: dict[str, Any] = {"url": args.url}
    started = time.monotonic()
    try:
        resp = runtime.http.get(args.url, headers={"Accept": "application/rss+xml, application/atom+xml, */*"})
        report.update(
            status=resp.status,
            final_url=resp.url,
            content_type=resp.headers.get("content-type", ""),
            bytes=len(resp.body),
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
        )
        parsed = parse_feed(resp.body, args.url, resp.headers.get("content-type", ""))
        report.update(ok=True, title=parsed.title, entries=len(parsed.entries),
                      problems=[p.to_json() for p in parsed.problems])
        with _redis_up(settings):
            seen = runtime.redis.mget([f"ww:seen:{e.story_id}" for e in parsed.entries]) if parsed.entries else []
        versions = [entry_version(e) for e in parsed.entries]
        report["new"] = sum(1 for s in seen if s is None)
        report["changed"] = sum(1 for s, v in zip(seen, versions, strict=True) if s is not None and s.decode() != v)
        report["sample"] = [{"title": e.title, "url": e.url, "published": e.published} for e in parsed.entries[:5]]
    except StageError as exc:
        report.update(ok=False, error=f"{exc.reason}: {exc}")
    report["seconds"] = round(time.monotonic() - started, 2)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0 if report["ok"] else 1
    if not report["ok"]:
        print(f"FAILED: {report['error']}")
        return 1
    print(f"OK: HTTP {report['status']} from {report['final_url']} ({report['content_type']}, {report['bytes']} bytes)")
    print(
        f"feed {report['title']!r}: {report['entries']} entries, {report['new']} never seen, "
        f"{report['changed']} changed since last seen"
    )
    support = [h for h in ("etag", "last_modified") if report.get(h)]
    print(
        "conditional GET: "
        + (", ".join(support) if support else "not supported by this server (full fetch every poll)")
    )
    for problem in report["problems"]:
        print(f"problem ({problem['kind']}): {problem['detail']}")
    for item in report["sample"]:
        print(f"  {item['published'] or '-':<25} {item['title'][:70]}  <{item['url']}>")
    return 0


def _progress_line(p: dict[str, Any]) -> str:
    total = max(1, p["total"])
    share = min(1.0, (p["done"] + p["failed"]) / total)
    bar = "#" * int(share * 30)
    eta = f", about {p['eta_s']}s left" if p.get("eta_s") is not None else ""
    return (
        f"[{bar:<30}] {share:6.1%}  done {p['done']}, failed {p['failed']}, remaining {p['remaining']}, "
        f"{p['rate_per_s']}/s{eta}  ({p['status']})"
    )


def _print_progress(p: dict[str, Any]) -> None:
    """A job's progress: a rich bar on a terminal, the plain line otherwise."""
    if not sys.stdout.isatty():
        print(_progress_line(p))
        return
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    row = Table.grid(padding=(0, 1))
    row.add_row(
        ProgressBar(total=max(1, p["total"]), completed=p["done"] + p["failed"], width=30),
        _progress_line(p).split("] ", 1)[1],
    )
    Console().print(row)


class _Bar:
    """A rich progress bar on stderr when it is a terminal; off one, a plain line every 5 s and at the end."""

    def __init__(self, progress: Any, task: Any, console: Any) -> None:
        self._progress, self._task, self._console = progress, task, console
        self._last_line = 0.0

    def update(self, done: int, total: int, line: str, final: bool, detail: str = "") -> None:
        self._progress.update(self._task, total=max(1, total), completed=done, detail=detail)
        if not self._console.is_terminal and (time.monotonic() - self._last_line >= 5 or final):
            print(line, file=sys.stderr)
            self._last_line = time.monotonic()


@contextlib.contextmanager
def _progress_bar(label: str) -> Iterator[_Bar]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        yield _Bar(progress, progress.add_task(label, total=None, detail=""), console)


def _follow_job(jobs: Any, job_id: str) -> int:
    """A progress bar until the job ends (a line every 5 s when stderr is not a terminal)."""
    with _progress_bar("reprocessing") as bar:
        while True:
            progress = jobs.progress(job_id)
            running = progress["status"] == "running"
            bar.update(progress["done"] + progress["failed"], progress["total"], _progress_line(progress),
                       final=not running,
                       detail=f"failed {progress['failed']}, {progress['rate_per_s']}/s ({progress['status']})")
            if not running:
                return 0 if progress["status"] == "done" else 1
            time.sleep(1)


def cmd_reprocess(args: argparse.Namespace) -> int:
    from workers import reprocess as jobs_module
    from workers.sender import task_sender

    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        jobs = jobs_module.ReprocessJobs(runtime.redis)
        if args.action in ("status", "cancel", "resume"):
            job_id = args.job or jobs.latest()
            if not job_id:
                if args.action != "status":
                    raise CommandError(f"no reprocess job to {args.action}: none was started here yet")
                print("no reprocess jobs yet: `wirewatch reprocess --stage extract` starts one")
                return 0
            if args.action == "cancel":
                jobs_module.cancel(runtime, job_id)
            if args.action == "resume":
                jobs.update(job_id, status="running")
                task_sender(runtime.redis_url, settings.redis_ca_certs).send_task("wirewatch.reprocess", args=[job_id])
            progress = jobs.progress(job_id)
            if args.json:
                print(json.dumps(progress, indent=2))
            else:
                _print_progress(progress)
            return 0
        if args.stage not in jobs_module.STAGES:
            raise UsageError(f"--stage must be one of {', '.join(jobs_module.STAGES)}")
        selection = SearchQuery(
            text=" ".join(args.query),
            entity=args.entity,
            outlet=args.source,
            feed=args.feed,
            date_from=args.date_from,
            date_to=args.date_to,
            ids=tuple(i for i in (args.ids or "").split(",") if i),
            collapse=False,
        )
        spec = jobs_module.JobSpec(
            selection=selection, stage=args.stage, rebuild=args.rebuild, batch_size=args.batch_size
        )
        job_id = jobs_module.start_job(runtime, spec)
        task_sender(runtime.redis_url, settings.redis_ca_certs).send_task("wirewatch.reprocess", args=[job_id])
        print(
            f"reprocess job {job_id} started: {spec.stage} onwards, "
            f"{'rebuild into a new version' if spec.rebuild else 'in place'}",
            file=sys.stderr,
        )
        if args.detach:
            print(job_id)
            return 0
        try:
            return _follow_job(jobs, job_id)
        except KeyboardInterrupt:
            print(
                f"\nthe job goes on in the workers; `wirewatch reprocess status {job_id}` to follow, "
                f"`wirewatch reprocess cancel {job_id}` to stop it",
                file=sys.stderr,
            )
            return 0


def cmd_dead_letter(args: argparse.Namespace) -> int:
    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        ledger = runtime.ledger
        records = ledger.dead_letters()
        if args.action == "list":
            if args.json:
                print(json.dumps(records, indent=2))
                return 0
            print(plural(len(records), "dead-letter record"))
            for n, r in enumerate(records, 1):
                when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(r.get("t", 0)))
                print(
                    f"{n:>4}  {when}  {r.get('stage', '?'):<8} {r.get('story_id', '?')}  "
                    f"attempts {r.get('attempts', '?')}  {str(r.get('error', ''))[:100]}"
                )
            return 0
        if args.action == "purge":
            print(f"purged {ledger.purge_dead_letters()} records")
            return 0
        if args.which not in (None, "all") and not args.which.isdigit():
            raise UsageError(f"{args.which!r} is not a record number; `wirewatch dead-letter list` numbers them")
        if not records:
            raise CommandError(f"no dead-letter records to {args.action}: nothing has failed for good")
        chosen = range(len(records)) if args.which == "all" else [int(args.which) - 1] if args.which else []
        if not chosen or any(not 0 <= n < len(records) for n in chosen):
            raise UsageError(
                f"wirewatch dead-letter {args.action}: give a record number (1..{len(records)})"
                + (" or 'all'" if args.action == "replay" else "")
            )
        if args.action == "show":
            print(json.dumps(records[chosen[0]], indent=2, ensure_ascii=False))
            return 0
        from workers.tasks import replay_dead_letter

        replayed = 0
        for n in sorted(chosen, reverse=True):  # from the end, so positions stay valid
            record = ledger.take_dead_letter(n)
            if record is not None:
                replay_dead_letter(record)
                ledger.record(record["story_id"], record.get("stage", "?"), "replayed", "from the dead-letter record")
                replayed += 1
        print(f"replayed {replayed} records")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from workers.api import Api, make_server

    settings = _settings()
    host = args.host or settings.api_host
    port = args.port if args.port is not None else settings.api_port
    runtime = Runtime(settings)
    index = runtime.search_index
    index.count()  # an unreachable index is said now, not on the first request
    from workers import metrics

    registry = metrics.registry(runtime)
    try:
        server = make_server(Api(index, _watch_api(runtime)), host, port, metrics=lambda: metrics.exposition(registry))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use; pick another with --port (0 picks a free one) "
                f"or WIREWATCH_API_PORT"
            ) from exc
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES) or isinstance(exc, socket.gaierror):
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port"
            ) from exc
        raise
    print(
        f"wirewatch: serving the search page and API on http://{host}:{server.server_address[1]}/ "
        f"(OpenAPI at /api/openapi.json, Prometheus metrics at /metrics)",
        file=sys.stderr,
    )
    with _redis_up(settings):
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def _ago(t: float | None, now: float) -> str:
    if not t:
        return "never"
    seconds = max(0, int(now - t))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def cmd_status(args: argparse.Namespace) -> int:
    """Queues, workers, feeds, hosts, dead letters and the index, at a glance."""
    from rich.console import Console
    from rich.table import Table

    from workers import health

    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        workers = health.ping_workers(runtime, args.timeout) if args.timeout > 0 else {}
        snap = health.take(runtime, workers)
    if args.json:
        print(json.dumps(snap.to_json(), indent=2, ensure_ascii=False))
        return 0
    now = snap.taken_at
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(
        f"wirewatch status at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(now))}: {_describe(settings)}"
    )

    queues = Table(title="Queues", title_justify="left")
    queues.add_column("queue")
    queues.add_column("messages waiting", justify="right")
    for name, depth in snap.queues.items():
        queues.add_row(name, str(depth))
    console.print(queues)

    if snap.workers:
        table = Table(title="Workers", title_justify="left")
        table.add_column("worker")
        table.add_column("consumes")
        for name, info in snap.workers.items():
            table.add_row(name, ", ".join(info["queues"]) or "-")
        console.print(table)
    else:
        console.print(f"Workers: none answered within {args.timeout:g} s (`wirewatch run` starts them)")

    counts = ", ".join(f"{n} {h}" for h, n in snap.feed_counts.items() if n)
    feeds = Table(title=f"Feeds: {counts or 'none'}", title_justify="left")
    for column in ("health", "feed", "last success", "failures in a row", "last error"):
        feeds.add_column(column, overflow="fold")
    shown = sorted(snap.feeds, key=lambda f: health.FEED_STATES.index(f["health"]) == 0)[: args.feeds]
    for feed in shown:
        feeds.add_row(
            feed["health"],
            feed["name"],
            _ago(feed["last_success"], now),
            str(feed["consecutive_failures"]),
            feed["last_error"][:80],
        )
    console.print(feeds)
    if len(snap.feeds) > len(shown):
        console.print(f"  … {len(snap.feeds) - len(shown)} more: `wirewatch feeds` lists them all")

    if snap.hosts_over_budget:
        hosts = Table(title="Hosts over their politeness budget", title_justify="left")
        hosts.add_column("host")
        hosts.add_column("why")
        for host, why in sorted(snap.hosts_over_budget.items()):
            hosts.add_row(host, why)
        console.print(hosts)
    else:
        console.print("Hosts over their politeness budget: none")
    waiting = sum(int(h["queued"]) for h in snap.frontier.values())
    oldest = max((h["oldest_wait_s"] for h in snap.frontier.values() if h["queued"]), default=0.0)
    console.print(
        f"Frontier: {waiting} polls and fetches waiting their turn on {len(snap.frontier)} hosts"
        + (f", the oldest for {oldest:.0f} s" if waiting else "")
        + (" · fetching PAUSED: the process stage is behind (add process workers)" if snap.fetching_paused else "")
    )
    console.print(
        f"Dead letters: {snap.dead_letters}"
        + (" (`wirewatch dead-letter list`)" if snap.dead_letters else "")
        + f" · stories in flight: {snap.in_flight}"
    )

    index = Table(title="Index", title_justify="left")
    for column in ("documents", "stories", "copies folded", "pending writes", "lag"):
        index.add_column(column, justify="right")
    i = snap.index
    index.add_row(
        str(i["documents"]), str(i["stories"]), str(i["copies_folded"]), str(i["pending_writes"]), f"{i['lag_s']:.1f} s"
    )
    console.print(index)
    return 0


def _migrate_with_progress(index: Any) -> dict[str, Any]:
    """Copy every document into a new index version with a progress bar on stderr (on a terminal), or a
    line every 5 s and at the end (off one)."""
    with _progress_bar("migrating the index") as bar:

        def shown(done: int, total: int) -> None:
            bar.update(done, total, f"migrating the index: {done:,}/{total:,} documents copied", final=done >= total)

        result: dict[str, Any] = index.migrate(on_progress=shown)
    return result


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings()
    runtime = Runtime(settings)
    if args.action == "migrate":
        result = _migrate_with_progress(runtime.unprepared_index)
        print(json.dumps(result, indent=2))
        return 0
    index = runtime.index  # creating the runtime's index runs ensure_ready: that is `init`
    status = index.status() if hasattr(index, "status") else {"documents": index.count()}
    if args.action == "status":
        with _redis_up(settings):
            status["pending_bulk_writes"] = runtime.index_queue.pending()
    print(json.dumps(status, indent=2))
    return 0


# --- watches -------------------------------------------------------------------------------


def _watch_api(runtime: Runtime) -> Any:
    """The watches side of ``serve``: read-only unless WIREWATCH_API_WRITE=on with a token."""
    from workers.api import WatchApi

    s = runtime.settings
    if s.api_write not in ("on", "off"):
        raise UsageError(f"WIREWATCH_API_WRITE must be on or off, not {s.api_write!r}")
    if s.api_write == "on" and len(s.api_write_token) < 16:
        raise UsageError("WIREWATCH_API_WRITE=on needs WIREWATCH_API_WRITE_TOKEN (16+ characters)")
    token = s.api_write_token if s.api_write == "on" else ""
    return WatchApi(runtime.watch_store, runtime.watch_log, runtime.public_url, token)


def _watch_from_args(args: argparse.Namespace) -> Any:
    import secrets
    from datetime import UTC, datetime

    from pipeline.watch import make_watch

    if args.claims:
        kind, query = "claims", {"speaker": args.speaker, "about": " ".join(args.words)}
    else:
        kind = "stories"
        query = {
            "text": " ".join(args.words), "entity": args.entity, "speaker": args.speaker, "outlet": args.source,
            "language": args.language, "min_topic": args.min_topic, "date_from": args.date_from,
            "date_to": args.date_to,
        }
    secret = args.secret or (secrets.token_urlsafe(24) if args.webhook else "")
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return make_watch(args.name, kind, query, args.webhook or "", secret, created)


def cmd_watch(args: argparse.Namespace) -> int:
    from pipeline.watch import WatchError, describe

    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        store, events = runtime.watch_store, runtime.watch_log
        if args.action == "add":
            if not args.name:
                raise SystemExit("wirewatch watch add: give the watch a name")
            from pipeline.errors import BlockedAddress

            try:
                watch = _watch_from_args(args)
                if watch.webhook_url:
                    runtime.webhook_client.check_url(watch.webhook_url)
            except WatchError as exc:
                raise SystemExit(f"wirewatch watch add: {exc}") from exc
            except BlockedAddress as exc:
                raise SystemExit(f"wirewatch watch add: webhook {exc}; a private or local target needs "
                                 "WIREWATCH_ALLOW_HOSTS") from exc
            if not store.add(watch, replace=args.replace):
                raise SystemExit(f"wirewatch watch add: a watch named {watch.name} exists (use --replace)")
            out = watch.public()
            out["feed"] = f"{runtime.public_url}/watch/{watch.name}.atom"
            if watch.secret and not args.secret:
                out["secret"] = watch.secret  # shown once, so the receiver can check signatures
            if args.json:
                print(json.dumps(out, indent=2))
            else:
                print(f"watching {describe(watch)}\n  feed: {out['feed']}")
                if watch.webhook_url:
                    print(f"  webhook: {watch.webhook_url}, signed (X-Wirewatch-Signature)")
                    if not args.secret:
                        print(f"  secret (shown once): {watch.secret}")
            return 0
        if args.action == "list":
            watches = store.all()
            if args.json:
                print(json.dumps([w.public() for w in watches], indent=2))
                return 0
            for w in watches:
                hook = f" -> {w.webhook_url}" if w.webhook_url else ""
                print(f"{w.name:<24} {events.last_seq(w.name):>6} events  {describe(w)}{hook}")
            if not watches:
                print("no watches; add one with `wirewatch watch add NAME words --entity ...`")
            return 0
        if not args.name:
            raise SystemExit(f"wirewatch watch {args.action}: give the watch's name")
        if args.action == "remove":
            if not store.remove(args.name):
                raise SystemExit(f"wirewatch watch remove: no watch named {args.name}")
            print(f"removed {args.name}")
            return 0
        watch = store.get(args.name)
        if watch is None:
            raise SystemExit(f"wirewatch watch show: no watch named {args.name}")
        recent = events.latest(watch.name, args.size)
        report = {
            "watch": watch.public(),
            "feed": f"{runtime.public_url}/watch/{watch.name}.atom",
            "events": events.last_seq(watch.name),
            "webhook": events.hook_state(watch.name) if watch.webhook_url else None,
            "recent": [{**r.event.to_json(), "seq": r.seq} for r in recent],
        }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"{watch.name}: {describe(watch)}\n  feed: {report['feed']}\n  {report['events']} events")
    if report["webhook"] is not None:
        hook = report["webhook"]
        print(f"  webhook {watch.webhook_url}: delivered through #{hook.get('delivered_through', 0)}, "
              f"{hook.get('failures', 0)} failures" + (f", last error: {hook['last_error']}" if hook.get("last_error")
                                                       else ""))
    for r in recent:
        e = r.event
        head = f"{e.claim['speaker']}: {e.claim['text']}" if e.claim else e.story.get("title", "")
        print(f"\n#{r.seq} {head}\n  {e.story.get('outlet')} · {e.story.get('url')}\n  why: {'; '.join(e.why)}")
        for rep in e.repeats:
            print(f"  repeated: {rep['repeated_by']} repeated {rep['speaker']}: {rep['text'][:100]!r} "
                  f"(first in {rep['first_outlet']})")
    return 0


def _add_watch_commands(sub: Any) -> None:
    p = sub.add_parser("watch", help="saved searches that push new stories and claims: add, list, show, remove")
    p.add_argument("action", choices=("add", "list", "show", "remove"), help="what to do with watches")
    p.add_argument("name", nargs="?", help="the watch's name (a-z, 0-9, - and _)")
    p.add_argument("words", nargs="*", help="words that must all match (stories), or be in the claim (--claims)")
    p.add_argument("--claims", action="store_true", help="watch what a speaker newly says, not stories")
    p.add_argument("--entity", help="a name or a Wikidata id, e.g. Q7184")
    p.add_argument("--speaker", help="a speaker (name or Wikidata id)")
    p.add_argument("--source", "--outlet", dest="source", help="outlet name")
    p.add_argument("--language", help="ISO 639-1 code, e.g. en")
    p.add_argument("--min-topic", type=float, help="only stories at least this relevant to the topic (0..1)")
    p.add_argument("--from", dest="date_from", type=time_bound, help="published on or after (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", type=time_bound, help="published on or before (YYYY-MM-DD)")
    p.add_argument("--webhook", help="POST each event as signed JSON to this URL")
    p.add_argument("--secret", help="the webhook signing secret (default: generated and shown once)")
    p.add_argument("--replace", action="store_true", help="replace a watch of the same name")
    p.add_argument("--size", type=bounded_int(1, 1000), default=10, help="recent events shown by `show`")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_watch)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wirewatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="start workers and beat on the configured (or embedded) services")
    p.add_argument("--no-beat", action="store_true", help="workers only; another process runs beat")
    p.add_argument(
        "--only",
        action="append",
        choices=KIND_NAMES,
        metavar="KIND",
        help="run only this kind of worker (control, fetch, process, index); repeat for several. "
        "Default: all of them, sized for this machine. Beat runs with the control kind",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="serve the sample stories locally and ingest them end to end")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds (default 300)")
    p.add_argument("--spacing", type=float, default=0.25, help="seconds between stories in the feeds")
    p.add_argument("--poll-interval", type=int, default=2, help="seconds between polls of each feed")
    p.add_argument("--fresh", action="store_true", help="forget what earlier demo runs indexed and start over")
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "search",
        help="search stories",
        description='Search stories: words must all match; "a phrase" matches a phrase; -word excludes '
        "(no quotes needed: `wirewatch search kaliningrad -drills`).",
    )
    p.add_argument("query", nargs="*", help="words to match; -word excludes a word")
    p.add_argument("--entity", help="a name or a Wikidata id, e.g. Q7184")
    p.add_argument("--speaker", help="stories with a claim by this speaker (name or Wikidata id)")
    p.add_argument("--language", help="ISO 639-1 code, e.g. en")
    p.add_argument("--min-topic", type=float, help="topic relevance at least this (0..1)")
    p.add_argument("--facets", action="store_true", help="top entities, speakers, outlets; stories per day")
    p.add_argument("--source", "--outlet", dest="source", help="outlet name")
    p.add_argument(
        "--from", dest="date_from", type=time_bound, help="published on or after (YYYY-MM-DD or ISO 8601 time)"
    )
    p.add_argument("--to", dest="date_to", type=time_bound, help="published on or before (a bare date covers its day)")
    p.add_argument(
        "--sort", choices=("relevance", "newest"), default="relevance", help="best first (default) or newest first"
    )
    p.add_argument("--size", type=bounded_int(0, 1000), default=10, help="results to show (default 10)")
    p.add_argument("--all-copies", action="store_true", help="show every copy, not one per cluster")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("claims", help="claims by a speaker about something, first made when and how repeated")
    p.add_argument("about", nargs="*", help="words in the claim")
    p.add_argument("--speaker", help="name or Wikidata id")
    p.add_argument("--from", dest="date_from", type=time_bound, help="in stories published on or after (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", type=time_bound, help="in stories published on or before (YYYY-MM-DD)")
    p.add_argument("--size", type=bounded_int(0, 1000), default=20, help="distinct claims to show (default 20)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("reprocess", help="re-run stages over stored stories (workers must be running)")
    p.add_argument(
        "action",
        nargs="?",
        choices=("start", "status", "cancel", "resume"),
        default="start",
        help="start a job (default), or follow, cancel or resume one",
    )
    p.add_argument("job", nargs="?", help="job id for status/cancel/resume (default: the latest)")
    p.add_argument("--query", nargs="*", default=[], help="only stories matching these words")
    p.add_argument("--entity", help="only stories naming this entity (name or Wikidata id)")
    p.add_argument("--source", "--outlet", dest="source", help="only stories from this outlet")
    p.add_argument("--feed", help="only stories from this feed URL")
    p.add_argument("--from", dest="date_from", type=time_bound, help="only stories published on or after")
    p.add_argument("--to", dest="date_to", type=time_bound, help="only stories published on or before")
    p.add_argument("--ids", help="comma-separated story ids")
    p.add_argument("--stage", default="extract", help="first stage to re-run: clean, dedupe, extract or index")
    p.add_argument(
        "--rebuild", action="store_true", help="every story into a new index version, aliases swapped when done"
    )
    p.add_argument("--batch-size", type=bounded_int(1, 10_000), default=32, help="stories per batch (default 32)")
    p.add_argument("--detach", action="store_true", help="start the job and return its id")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("dead-letter", help="work that kept failing: list, show N, replay N|all, purge")
    p.add_argument("action", choices=("list", "show", "replay", "purge"), help="what to do with the records")
    p.add_argument("which", nargs="?", help="record number (from list), or 'all' for replay")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=cmd_dead_letter)

    p = sub.add_parser("status", help="queues, workers, feeds, hosts, dead letters and the index at a glance")
    p.add_argument("--json", action="store_true", help="everything as JSON")
    p.add_argument(
        "--timeout", type=float, default=1.0, help="seconds to wait for workers to answer a ping (0: do not ask)"
    )
    p.add_argument("--feeds", type=bounded_int(0, 100_000), default=20, help="feeds to list, least healthy first")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("story", help="show one stored story")
    p.add_argument("story_id", help="a story id (32 hex digits, from search results)")
    p.add_argument("--json", action="store_true", help="the stored document as JSON")
    p.set_defaults(func=cmd_story)

    p = sub.add_parser("trace", help="every stage a feed entry or article URL went through")
    p.add_argument("target", help="article URL or story id")
    p.add_argument("--json", action="store_true", help="the events as JSON (times as Unix seconds)")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("feeds", help="feed health; `feeds check URL` tries one feed and explains")
    p.add_argument("action", nargs="?", choices=("list", "check"), default="list", help="list (default) or check")
    p.add_argument("url", nargs="?", help="the feed URL to check")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_feeds)

    kibana.add_command(sub)
    for command in sub.choices.values():
        # Accepted after the command too; SUPPRESS keeps a top-level --debug from being reset.
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="on an error, show the traceback"
        )

    p = sub.add_parser("outlets", help="boilerplate learned per outlet: paragraphs it repeats on its stories")
    p.add_argument("--limit", type=bounded_int(1, 10_000), default=20, help="paragraphs shown per outlet")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_outlets)

    p = sub.add_parser("serve", help="the search page and the read-only HTTP JSON API")
    p.add_argument("--host", help="address to bind (default WIREWATCH_API_HOST, 127.0.0.1)")
    p.add_argument(
        "--port", type=bounded_int(0, 65535), help="port (default WIREWATCH_API_PORT, 8080; 0 picks a free one)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("index", help="manage the story index")
    p.add_argument(
        "action",
        choices=("init", "status", "migrate"),
        help="init: template, first version, aliases; status: versions and counts; "
        "migrate: a new version with the current mapping, documents copied, aliases swapped",
    )
    p.set_defaults(func=cmd_index)
    _add_watch_commands(sub)
    return parser


# Commands whose free words are a query in which "-word" excludes a word.
_QUERY_WORDS = {"search": "query", "claims": "about"}


def _exclusions(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Take "-word" query terms out of argv (argparse would read them as unknown options)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in _QUERY_WORDS:
        return argv, []
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = set(sub.choices[command]._option_string_actions) | set(parser._option_string_actions)
    kept: list[str] = []
    excluded: list[str] = []
    after_dashdash = False
    for arg in argv:
        if arg == "--":
            after_dashdash = True
        if not after_dashdash and re.fullmatch(r"-[^\W\d_][\w'.-]*", arg) and arg not in known and len(arg) > 2:
            excluded.append(arg)
        else:
            kept.append(arg)
    return kept, excluded


def _prefer_demo_feeds(command: str) -> None:
    """After `wirewatch demo`, `wirewatch feeds` shows the demo's feeds (they are the ones with a history here)."""
    if os.environ.get("WIREWATCH_FEEDS_FILE"):
        return
    demo_feeds = _settings().data_dir.resolve() / "demo-feeds.yaml"
    if demo_feeds.is_file():
        os.environ["WIREWATCH_FEEDS_FILE"] = str(demo_feeds)
        print(
            f"wirewatch {command}: the demo's feeds ({demo_feeds}); WIREWATCH_FEEDS_FILE=config/feeds.yaml "
            f"shows the configured ones, `wirewatch demo --fresh` or deleting that file forgets the demo",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    argv, excluded = _exclusions(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if excluded:
        name = _QUERY_WORDS[args.command]
        setattr(args, name, [*getattr(args, name), *excluded])
    try:
        if args.command in ("feeds", "status"):
            _prefer_demo_feeds(args.command)
        result: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends in one line; --debug shows the rest
        if args.debug:
            raise
        code, message = explain(exc, _loaded[-1] if _loaded else None)
        print(f"wirewatch {args.command}: {message}", file=sys.stderr)
        return code
    return result


if __name__ == "__main__":
    sys.exit(main())
