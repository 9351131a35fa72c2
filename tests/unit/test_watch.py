"""Watches on plain data: definitions, matching, what is new, claim repeats, backlog plans, Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from pipeline.watch import (
    ATOM,
    CompiledWatch,
    FirstSeen,
    Story,
    WatchError,
    atom_feed,
    events_for,
    make_watch,
    plan_backlog,
)
from workers.watches import signature, verify

BASE = "http://wirewatch.test"


def doc(sid: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "story_id": sid,
        "title": "Kremlin warns over Baltic patrols",
        "summary": "",
        "text": "The Kremlin said on Tuesday that air patrols over the Baltic Sea raise tensions near Kaliningrad.",
        "outlet": "Harbour Herald",
        "url": f"https://news.example/{sid}",
        "published": "2026-11-17T07:30:00+00:00",
        "language": "en",
        "cluster": {"id": sid, "canonical": True},
        "entities": {"person": ["Dmitry Peskov"], "org": ["NATO"], "place": ["Baltic Sea"], "ids": ["Q7184"]},
        "speakers": ["Dmitry Peskov"],
        "speaker_ids": [],
        "claims": [
            {"speaker": "Dmitry Peskov", "speaker_id": None, "cue": "said", "kind": "direct",
             "text": "the patrols are a direct threat to Russia", "key": "dmitry peskov|aaa"},
        ],
        "topic": {"score": 0.7},
    }
    base.update(over)
    return base


def matches(kind: str, query: dict[str, Any], d: dict[str, Any]) -> bool:
    cw = CompiledWatch.of(make_watch("w", kind, query))
    holders = {c["key"]: FirstSeen(d["story_id"]) for c in d.get("claims", [])}
    return bool(events_for(cw, Story.of(d), d["story_id"], holders, BASE, 0.0))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"text": "kaliningrad"}, True),
        ({"text": "Kaliningrad patrols"}, True),
        ({"text": '"air patrols"'}, True),
        ({"text": '"patrols air"'}, False),
        ({"text": "kaliningrad -tensions"}, False),
        ({"text": "threat russia"}, True),  # claim text is searchable text, as in the search
        ({"text": "kaliningrad", "entity": "q7184"}, True),
        ({"entity": "NATO"}, True),
        ({"entity": "Lavrov"}, False),
        ({"speaker": "dmitry peskov"}, True),
        ({"outlet": "harbour herald", "language": "EN"}, True),
        ({"outlet": "Other Outlet"}, False),
        ({"min_topic": 0.8}, False),
        ({"min_topic": 0.5}, True),
        ({"date_from": "2026-11-17", "date_to": "2026-11-17"}, True),
        ({"date_from": "2026-11-18"}, False),
    ],
)
def test_story_watch_matches_as_the_search_reads_a_query(query: dict[str, Any], expected: bool) -> None:
    assert matches("stories", query, doc("a" * 32)) is expected


def test_watch_definitions_are_checked() -> None:
    with pytest.raises(WatchError, match="name"):
        make_watch("Bad Name", "stories", {"text": "x"})
    with pytest.raises(WatchError, match="unknown field"):
        make_watch("w", "stories", {"about": "x"})
    with pytest.raises(WatchError, match="at least one"):
        make_watch("w", "stories", {"text": "  -only "})
    with pytest.raises(WatchError, match="secret"):
        make_watch("w", "stories", {"text": "x"}, webhook_url="http://h/", secret="short")
    with pytest.raises(WatchError, match="http"):
        make_watch("w", "stories", {"text": "x"}, webhook_url="file:///etc/passwd", secret="s" * 16)
    with pytest.raises(WatchError, match="date"):
        make_watch("w", "stories", {"text": "x", "date_from": "yesterday"})
    w = make_watch("w", "stories", {"text": "x", "min_topic": "0.5", "entity": ""})
    assert w.query == {"text": "x", "min_topic": 0.5}
    assert "secret" not in repr(make_watch("w", "stories", {"text": "x"}, "http://h/", "s" * 20))


def test_a_copy_fires_only_when_it_brings_a_new_outlet() -> None:
    cw = CompiledWatch.of(make_watch("w", "stories", {"text": "kaliningrad"}))
    copy = doc("b" * 32, outlet="Coast Courier", cluster={"id": "a" * 32, "canonical": False})
    fired = events_for(cw, Story.of(copy), copy["story_id"], {}, BASE, 0.0)
    assert [e.why[0] for e in fired] == ["new outlet for a story: Coast Courier now carries it"]
    # The same outlet already carried it (another story id holds the outlet): nothing new.
    assert events_for(cw, Story.of(copy), "c" * 32, {}, BASE, 0.0) == []


def test_claims_watch_fires_on_a_new_claim_and_names_repeats() -> None:
    cw = CompiledWatch.of(make_watch("peskov", "claims", {"speaker": "Dmitry Peskov"}))
    old = {"speaker": "Dmitry Peskov", "speaker_id": None, "cue": "said", "kind": "direct",
           "text": "NATO is in direct confrontation with Russia", "key": "dmitry peskov|old"}
    new = {"speaker": "Dmitry Peskov", "speaker_id": None, "cue": "told", "kind": "indirect",
           "text": "the drills were planned long ago", "key": "dmitry peskov|new"}
    other = {"speaker": "Maria Zakharova", "speaker_id": None, "cue": "said", "kind": "direct",
             "text": "the ships will keep sailing", "key": "maria zakharova|x"}
    d = doc("d" * 32, outlet="Coast Courier", claims=[old, new, other])
    holders = {
        "dmitry peskov|old": FirstSeen("a" * 32, "Harbour Herald", "https://news.example/a", None, "first"),
        "dmitry peskov|new": FirstSeen("d" * 32),
        "maria zakharova|x": FirstSeen("d" * 32),
    }
    events = events_for(cw, Story.of(d), d["story_id"], holders, BASE, 0.0)
    assert [e.event_id for e in events] == ["claim:dmitry peskov|new"]
    event = events[0]
    assert event.claim is not None and event.claim["text"] == new["text"]
    assert event.why[0] == "new claim by Dmitry Peskov"
    assert [(r["repeated_by"], r["text"], r["first_outlet"]) for r in event.repeats] == [
        ("Coast Courier", old["text"], "Harbour Herald")
    ]
    assert event.links["feed"] == f"{BASE}/watch/peskov.atom"
    # Only repeats: no event at all.
    only_old = doc("e" * 32, claims=[old])
    assert events_for(cw, Story.of(only_old), only_old["story_id"], holders, BASE, 0.0) == []


def test_backlog_keeps_the_newest_in_order_and_summarises_the_rest() -> None:
    assert plan_backlog([4, 5, 6], 3, 10).send == (4, 5, 6)
    assert plan_backlog([4, 5, 6], 3, 10).skipped == 0
    plan = plan_backlog(list(range(11, 31)), 10, 5)
    assert plan.send == (26, 27, 28, 29, 30)
    assert (plan.skipped, plan.first_skipped_seq, plan.last_skipped_seq) == (15, 11, 25)
    # Events trimmed from the stream while the endpoint was down count as skipped too.
    plan = plan_backlog([50, 51], 10, 5)
    assert (plan.skipped, plan.first_skipped_seq, plan.last_skipped_seq, plan.send) == (39, 11, 49, (50, 51))


def test_atom_feed_is_valid_atom_with_one_entry_per_event() -> None:
    watch = make_watch("baltic", "stories", {"text": "kaliningrad <b>"})
    cw = CompiledWatch.of(make_watch("baltic", "stories", {"text": "kaliningrad"}))
    d = doc("f" * 32, title="Rail <transit> & Kaliningrad")
    events = events_for(cw, Story.of(d), d["story_id"], {}, BASE, 1_700_000_000.0)
    root = ET.fromstring(atom_feed(watch, events, BASE, 1_700_000_000.0))
    ns = {"a": ATOM}
    assert root.tag == f"{{{ATOM}}}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"a:{required}", ns) is not None
    entries = root.findall("a:entry", ns)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.findtext("a:title", namespaces=ns) == "Rail <transit> & Kaliningrad"
    assert entry.findtext("a:id", namespaces=ns) == f"urn:wirewatch:baltic:story:{'f' * 32}"
    assert entry.findtext("a:updated", namespaces=ns) == "2023-11-14T22:13:20Z"
    assert entry.find("a:link[@rel='alternate']", ns).get("href") == d["url"]  # type: ignore[union-attr]
    assert "Why: new story; words: kaliningrad." in (entry.findtext("a:summary", namespaces=ns) or "")


def test_webhook_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"event_id": "story:1"}'
    header = signature("s" * 20, 1_700_000_000, body)
    assert verify("s" * 20, header, body, now=1_700_000_010)
    assert not verify("s" * 20, header, body + b" ", now=1_700_000_010)
    assert not verify("t" * 20, header, body, now=1_700_000_010)
    assert not verify("s" * 20, header, body, now=1_700_001_000)  # too old: a replay
    assert not verify("s" * 20, "garbage", body)
