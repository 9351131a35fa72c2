"""The beat schedule: a dispatcher tick and the index flush; feeds are scheduled in Redis."""

from __future__ import annotations

from typing import Any

FLUSH_INDEX_EVERY_S = 10.0
RECONCILE_EVERY_S = 60.0


def beat_schedule(dispatch_every_s: float) -> dict[str, dict[str, Any]]:
    """Beat only ticks: feeds are polled when the schedule in Redis says they are due.

    The dispatcher hands due feeds to the workers; each poll sets its feed's next due time, adapted
    to how often the feed changes and backed off when it fails. Thousands of feeds cost one small
    beat entry, and a change of feeds.yaml needs no beat restart.
    """
    return {
        "dispatch due feed polls": {
            "task": "wirewatch.dispatch_polls",
            "schedule": dispatch_every_s,
            "options": {"expires": dispatch_every_s},
        },
        "put stuck stories back in their chain": {
            "task": "wirewatch.reconcile",
            "schedule": RECONCILE_EVERY_S,
            "options": {"expires": RECONCILE_EVERY_S},
        },
        "flush pending index writes": {
            "task": "wirewatch.flush_index",
            "schedule": FLUSH_INDEX_EVERY_S,
            "options": {"expires": FLUSH_INDEX_EVERY_S},
        },
    }
