"""The ``wirewatch`` command."""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from pipeline.fetch import story_id_for
from pipeline.models import ClaimQuery, SearchQuery, SearchResult
from workers import kibana
from workers.runtime import Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"wirewatch: {exc}") from exc


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
        Runtime(settings).index  # noqa: B018 - create the index before workers race to
        workers = WorkerSet(settings, beat=not args.no_beat)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from workers.demo import DemoServer

    base = _settings()
    server = DemoServer(base.config_dir / "demo" / "stories.yaml", spacing_s=args.spacing).start()
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
    host = server.base_url.split("//")[1].split(":")[0]
    # One local server stands in for many outlets: poll it often and skip the per-host politeness gap.
    settings = replace(
        base,
        feeds_file=str(feeds_file),
        data_dir=data,
        allow_hosts=tuple(dict.fromkeys((*base.allow_hosts, host))),
        poll_min_interval_s=1.0,
        dispatch_every_s=1.0,
        host_min_gap_s=0.0,
        host_max_concurrency=16,
    )
    expected = {server.story_id(a): a for a in server.articles}
    print(
        f"wirewatch demo: {len(server.articles)} articles from {len(server.outlets)} outlets at "
        f"{server.base_url}, on {_describe(settings)}",
        file=sys.stderr,
    )
    with _redis_up(settings):
        index = Runtime(settings).index
        already = index.present(expected)
        workers = WorkerSet(settings, log_dir=data / "logs")
        workers.start()
        print(f"wirewatch demo: worker and beat logs in {data / 'logs'}", file=sys.stderr)
        seen_at: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout
        try:
            while time.monotonic() < deadline and workers.alive():
                now = time.time()
                for sid in index.present(set(expected) - set(seen_at)):
                    seen_at[sid] = now
                if len(seen_at) == len(expected):
                    break
                time.sleep(0.1)
        finally:
            workers.stop()
            server.stop()
        index.refresh()
        latencies = [
            seen_at[sid] - server.served[a.path]
            for sid, a in expected.items()
            if sid in seen_at and sid not in already and a.path in server.served
        ]
        missing = [a.path for sid, a in expected.items() if sid not in seen_at]
        summary: dict[str, Any] = {
            "articles": len(expected),
            "searchable": len(seen_at),
            "missing": missing,
            "already_indexed_before": len(already),
            "served_to_searchable_p50_s": round(_percentile(latencies, 0.5), 3) if latencies else None,
            "served_to_searchable_p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
            "clusters": index.search(SearchQuery(size=1)).total,
        }
        if latencies:
            summary["served_to_searchable_mean_s"] = round(statistics.fmean(latencies), 3)
        print(json.dumps(summary, indent=2))
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
    return 0 if not missing else 1


# --- reading ---------------------------------------------------------------------------------


def _terminal_snippet(snippet: str) -> str:
    bold, off = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("[", "]")
    return html.unescape(re.sub(r"<mark>(.*?)</mark>", lambda m: f"{bold}{m.group(1)}{off}", snippet))


def _print_result(result: SearchResult) -> None:
    print(f"{result.total} matching stories")
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
    print(f"{result.total} distinct claims")
    for hit in result.hits:
        when = (hit.first_published or "")[:16].replace("T", " ")
        print(f"\n{hit.speaker} ({hit.kind}, {hit.cue}): {hit.text}")
        print(f"  first: {when} · {hit.first_outlet} · {hit.first_title}")
        print(f"  repeated in {hit.stories} stories by {hit.outlets} outlets")
    return 0


def cmd_story(args: argparse.Namespace) -> int:
    doc = Runtime(_settings()).search_index.get(args.story_id)
    if doc is None:
        print(f"wirewatch: no story {args.story_id}", file=sys.stderr)
        return 1
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
    sid = target if re.fullmatch(r"[0-9a-f]{32}", target) else story_id_for(target)
    with _redis_up(settings):
        events = Runtime(settings).ledger.trace(sid)
    if args.json:
        print(json.dumps({"story_id": sid, "events": events}, indent=2))
        return 0
    print(f"story {sid}")
    if not events:
        print("  never seen: no feed has listed this URL yet")
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["t"]))
        print(f"  {when}  {e['stage']:<8} {e['outcome']:<10} {e.get('detail', '')}")
    return 0


def _when(value: str | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(value))) if value else "-"


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
    if args.action == "check":
        if not args.url:
            raise SystemExit("wirewatch feeds check: give the feed URL")
        return cmd_feed_check(args)
    settings = _settings()
    runtime = Runtime(settings)
    with _redis_up(settings):
        states = runtime.feed_state.all()
    rows = []
    for feed in runtime.feeds:
        st = states.get(feed.url, {})
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "status": st.get("status", "never polled"),
                "last_success": st.get("last_success"),
                "last_new": st.get("last_new"),
                "errors": int(st.get("errors", 0)),
                "consecutive_failures": int(st.get("consecutive_failures", 0)),
                "last_error": st.get("last_error", ""),
                "entries_seen": int(st.get("entries_seen", 0)),
                "items_per_day": float(st["items_per_day"]) if st.get("items_per_day") else None,
                "next_due": st.get("next_due"),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'status':<13} {'last success':<16} {'last new item':<16} {'errors':>6} {'items/day':>9}  feed")
    for r in rows:
        ipd = f"{r['items_per_day']:.1f}" if r["items_per_day"] is not None else "-"
        print(
            f"{r['status']:<13} {_when(r['last_success']):<16} {_when(r['last_new']):<16} {r['errors']:>6} "
            f"{ipd:>9}  {r['name']} <{r['url']}>"
        )
        if r["last_error"]:
            print(f"{'':<13} last error: {r['last_error']}")
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
        report.update(ok=True, title=parsed.title, entries=len(parsed.entries), problems=list(parsed.problems))
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
        print(f"problem: {problem}")
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
                print("no reprocess jobs", file=sys.stderr)
                return 1
            if args.action == "cancel":
                jobs_module.cancel(runtime, job_id)
            if args.action == "resume":
                jobs.update(job_id, status="running")
                task_sender(runtime.redis_url, settings.redis_ca_certs).send_task("wirewatch.reprocess", args=[job_id])
            progress = jobs.progress(job_id)
            print(json.dumps(progress, indent=2) if args.json else _progress_line(progress))
            return 0
        if args.stage not in jobs_module.STAGES:
            raise SystemExit(f"--stage must be one of {', '.join(jobs_module.STAGES)}")
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
            while True:
                progress = jobs.progress(job_id)
                print("\r" + _progress_line(progress), end="", file=sys.stderr, flush=True)
                if progress["status"] != "running":
                    print(file=sys.stderr)
                    return 0 if progress["status"] == "done" else 1
                time.sleep(1)
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
            print(f"{len(records)} dead-letter records")
            for n, r in enumerate(records, 1):
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.get("t", 0)))
                print(
                    f"{n:>4}  {when}  {r.get('stage', '?'):<8} {r.get('story_id', '?')}  "
                    f"attempts {r.get('attempts', '?')}  {str(r.get('error', ''))[:100]}"
                )
            return 0
        if args.action == "purge":
            print(f"purged {ledger.purge_dead_letters()} records")
            return 0
        chosen = range(len(records)) if args.which == "all" else [int(args.which) - 1] if args.which else []
        if not chosen or any(not 0 <= n < len(records) for n in chosen):
            raise SystemExit(
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
    server = make_server(Api(Runtime(settings).search_index), host, port)
    print(
        f"wirewatch: serving the search page and API on http://{host}:{server.server_address[1]}/ "
        f"(OpenAPI at /api/openapi.json)",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings()
    runtime = Runtime(settings)
    if args.action == "migrate":
        print(json.dumps(runtime.unprepared_index.migrate(), indent=2))  # type: ignore[attr-defined]
        return 0
    index = runtime.index  # creating the runtime's index runs ensure_ready: that is `init`
    status = index.status() if hasattr(index, "status") else {"documents": index.count()}
    if args.action == "status":
        with _redis_up(settings):
            status["pending_bulk_writes"] = runtime.index_queue.pending()
    print(json.dumps(status, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="start workers and beat on the configured (or embedded) services")
    p.add_argument("--no-beat", action="store_true", help="workers only; another process runs beat")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="serve the sample stories locally and ingest them end to end")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--spacing", type=float, default=0.25, help="seconds between stories in the feeds")
    p.add_argument("--poll-interval", type=int, default=2, help="seconds between polls of each feed")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("search", help="search stories")
    p.add_argument("query", nargs="*")
    p.add_argument("--entity", help="a name or a Wikidata id, e.g. Q7184")
    p.add_argument("--speaker", help="stories with a claim by this speaker (name or Wikidata id)")
    p.add_argument("--language", help="ISO 639-1 code, e.g. en")
    p.add_argument("--min-topic", type=float, help="topic relevance at least this (0..1)")
    p.add_argument("--facets", action="store_true", help="top entities, speakers, outlets; stories per day")
    p.add_argument("--source", "--outlet", dest="source", help="outlet name")
    p.add_argument("--from", dest="date_from", help="published on or after (YYYY-MM-DD or ISO time)")
    p.add_argument("--to", dest="date_to", help="published on or before")
    p.add_argument("--sort", choices=("relevance", "newest"), default="relevance")
    p.add_argument("--size", type=int, default=10)
    p.add_argument("--all-copies", action="store_true", help="show every copy, not one per cluster")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("claims", help="claims by a speaker about something, first made when and how repeated")
    p.add_argument("about", nargs="*", help="words in the claim")
    p.add_argument("--speaker", help="name or Wikidata id")
    p.add_argument("--from", dest="date_from")
    p.add_argument("--to", dest="date_to")
    p.add_argument("--size", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_claims)

    p = sub.add_parser("reprocess", help="re-run stages over stored stories (workers must be running)")
    p.add_argument("action", nargs="?", choices=("start", "status", "cancel", "resume"), default="start")
    p.add_argument("job", nargs="?", help="job id for status/cancel/resume (default: the latest)")
    p.add_argument("--query", nargs="*", default=[], help="only stories matching these words")
    p.add_argument("--entity")
    p.add_argument("--source", "--outlet", dest="source")
    p.add_argument("--feed", help="only stories from this feed URL")
    p.add_argument("--from", dest="date_from")
    p.add_argument("--to", dest="date_to")
    p.add_argument("--ids", help="comma-separated story ids")
    p.add_argument("--stage", default="extract", help="first stage to re-run: clean, dedupe, extract or index")
    p.add_argument(
        "--rebuild", action="store_true", help="every story into a new index version, aliases swapped when done"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--detach", action="store_true", help="start the job and return its id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("dead-letter", help="work that kept failing: list, show N, replay N|all, purge")
    p.add_argument("action", choices=("list", "show", "replay", "purge"))
    p.add_argument("which", nargs="?", help="record number (from list), or 'all' for replay")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dead_letter)

    p = sub.add_parser("story", help="show one stored story")
    p.add_argument("story_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_story)

    p = sub.add_parser("trace", help="every stage a feed entry or article URL went through")
    p.add_argument("target", help="article URL or story id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("feeds", help="feed health; `feeds check URL` tries one feed and explains")
    p.add_argument("action", nargs="?", choices=("list", "check"), default="list")
    p.add_argument("url", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feeds)

    kibana.add_command(sub)

    p = sub.add_parser("outlets", help="boilerplate learned per outlet: paragraphs it repeats on its stories")
    p.add_argument("--limit", type=int, default=20, help="paragraphs shown per outlet")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_outlets)

    p = sub.add_parser("serve", help="the search page and the read-only HTTP JSON API")
    p.add_argument("--host", help="address to bind (default WIREWATCH_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default WIREWATCH_API_PORT, 8080; 0 picks a free one)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("index", help="manage the story index")
    p.add_argument(
        "action",
        choices=("init", "status", "migrate"),
        help="init: template, first version, aliases; status: versions and counts; "
        "migrate: a new version with the current mapping, documents copied, aliases swapped",
    )
    p.set_defaults(func=cmd_index)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
