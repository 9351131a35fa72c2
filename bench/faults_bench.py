"""Faults at scale: over 2,000 wire stories through killed workers, Redis restarts and an ES outage.

``python -m bench.faults_bench`` runs the world of ``tests/faults/world.py`` at full size: real Redis
(AOF), Elasticsearch behind a proxy, a worker set with beat, and a feed server publishing the
stories (and their copies at other outlets) over ten feeds. While the stories arrive, pool children
and the main worker process are SIGKILLed, Redis restarts twice, Elasticsearch is stopped for 60 s,
bulk writes are answered 429 for a while, and some pages and feeds time out once. It counts stories
lost, doubled and misclustered, and dead-letter records other than the pages that answer 404 for ever;
every one of those should be 0. Needs ``WIREWATCH_TEST_ES_HOME`` (default /opt/wirewatch/...) and
redis-server; takes 15-25 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench import report
from tests.faults.world import DEFAULT_SEED, FIGURES, FaultPlan, es_home_from_env, run_world, summary

STORIES = 2000
DURATION_S = 1000.0
PLAN = FaultPlan(
    pool_kills=10,
    main_kills=2,
    redis_restarts=2,
    redis_down_s=3.0,
    es_outages_s=(60.0,),
    throttles_s=(30.0, 15.0),
    slow_page_share=0.04,
    slow_feeds=3,
    stalls_per_feed=3,
    broken_pages=12,
    window=(0.08, 0.7),
)
FAILURES = ("lost", "doubled", "misclustered", "dead_letters_unexpected")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def markdown(figures: dict[str, object], plan: FaultPlan, duration_s: float) -> str:
    f = figures
    clean = all(f[k] == 0 for k in FAILURES) and f["indexed"] == f["stories"]
    return f"""## Faults: {f["distinct_stories"]:,} wire stories through killed workers, restarts and outages

`python -m bench.faults_bench` — the world of `tests/faults/world.py` at full size (the CI test
`tests/faults` is the 300-story version). A feed server publishes {f["distinct_stories"]:,} synthetic wire stories
over 10 outlets' RSS feeds, released over the first {duration_s * 0.5:.0f} s; {f["copies"]} copies ({f["edited_copies"]} edited:
an outlet intro on top, the last paragraph cut) appear at 1-3 other outlets. Real Redis (AOF) and
Elasticsearch (behind a proxy that can answer 429) with one worker (2 pool children) and beat; visibility
timeout 20 s, reconciler after 30 s, 8 retries.

Faults injected ({f["faults_injected"]} in all), at seeded random moments:

| fault | count |
|---|---|
| SIGKILL of a pool child | {f["pool_kills"]} |
| SIGKILL of the main worker process (a new worker started) | {f["main_kills"]} |
| Redis restart (graceful shutdown, AOF, {plan.redis_down_s:.0f} s down) | {f["redis_restarts"]} |
| Elasticsearch stopped ({f["es_down_s"]:.0f} s, then restarted on its data) | {f["es_outages"]} |
| bulk writes answered 429 ({", ".join(f"{s:.0f} s" for s in plan.throttles_s)}) | {f["throttles"]} ({f["answered_429"]} answers) |
| page timing out once (first answer after the read timeout) | {f["page_timeouts"]} |
| feed timing out once | {f["feed_timeouts"]} |
| page answering 404 for ever (must end in the dead-letter record) | {f["broken_pages"]} |

| stories expected | indexed | lost | doubled | misclustered | unexpected dead letters | expected dead letters | all searchable after |
|---|---|---|---|---|---|---|---|
| {f["stories"]:,} | {f["indexed"]:,} | **{f["lost"]}** | **{f["doubled"]}** | **{f["misclustered"]}** | **{f["dead_letters_unexpected"]}** | {f["dead_letters_expected"]} | {f["seconds"]} s |

Target: 0 lost, doubled and misclustered, and no dead letter but the 404 pages — {"met" if clean else "**not met**"}.
"Stories expected" counts every page that must be indexed (originals and copies); "all searchable after"
is from the first release, with the last release at {duration_s * 0.5:.0f} s."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=STORIES)
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds of releases and faults")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    figures = run_world(
        args.stories, PLAN, args.duration, seed=args.seed, settle_s=600.0, es_home=es_home_from_env(), log=_log
    )
    diagnostics = figures.pop("diagnostics")
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(diagnostics, indent=1, default=str), file=sys.stderr)
    print(summary(figures, FIGURES))
    if not args.no_write:
        report.write("faults", figures, markdown(figures, PLAN, args.duration))
    return 0 if all(figures[k] == 0 for k in FAILURES) else 1


if __name__ == "__main__":
    sys.exit(main())
