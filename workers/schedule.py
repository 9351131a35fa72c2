"""The beat schedule: every configured feed polled on its own interval."""

from __future__ import annotations

from typing import Any

from pipeline.models import Feed

FLUSH_INDEX_EVERY_S = 5.0


def beat_schedule(feeds: list[Feed]) -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {
        "flush pending index writes": {
            "task": "wirewatch.flush_index",
            "schedule": FLUSH_INDEX_EVERY_S,
            "options": {"expires": FLUSH_INDEX_EVERY_S},
        }
    }
    schedule.update({
        f"poll {feed.name} {feed.url}": {
            "task": "wirewatch.poll_feed",
            "schedule": float(feed.interval_s),
            "args": (feed.url,),
            "options": {"expires": float(feed.interval_s)},
        }
        for feed in feeds
    })
    return schedule
