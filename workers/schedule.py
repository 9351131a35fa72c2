"""The beat schedule: every configured feed polled on its own interval."""

from __future__ import annotations

from typing import Any

from pipeline.models import Feed


def beat_schedule(feeds: list[Feed]) -> dict[str, dict[str, Any]]:
    return {
        f"poll {feed.name} {feed.url}": {
            "task": "wirewatch.poll_feed",
            "schedule": float(feed.interval_s),
            "args": (feed.url,),
            "options": {"expires": float(feed.interval_s)},
        }
        for feed in feeds
    }
