"""Names in the demo corpus that are places or demonyms, taken from the corpus itself and the gazetteer.

For the checks that the demo's person, speaker and organisation facets show none of them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "config" / "demo" / "stories.yaml"
GAZETTEER = REPO / "config" / "gazetteer.yaml"
# Places of the demo stories that neither a dateline nor the gazetteer names, and that the small model
# takes for people or organisations: Azulmar (a museum), Cork and Kerry, the Algarve, the Danube.
UNLISTED_PLACES = frozenset({"Azulmar", "Cork", "Algarve", "Kerry", "Danube"})


@functools.cache
def _data() -> tuple[dict[str, Any], dict[str, Any]]:
    return (yaml.safe_load(CORPUS.read_text(encoding="utf-8")), yaml.safe_load(GAZETTEER.read_text(encoding="utf-8")))


@functools.cache
def demo_text() -> str:
    corpus, _ = _data()
    return "\n\n".join(f"{s['title']}\n{s['summary']}\n" + "\n".join(s["paragraphs"]) for s in corpus["stories"])


def _in_text(name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", demo_text()) is not None


@functools.cache
def demo_places() -> frozenset[str]:
    """Every dateline, every gazetteer place (name or alias) the stories mention, and the unlisted ones."""
    corpus, gazetteer = _data()
    places = {str(s["dateline"]).title() for s in corpus["stories"]}
    for entry in gazetteer["entities"]:
        if entry["type"] == "place":
            places |= {n for n in (entry["name"], *entry.get("aliases", ())) if _in_text(n)}
    return frozenset({re.sub(r"^the\s+", "", p, flags=re.I) for p in places} | UNLISTED_PLACES)


@functools.cache
def demo_demonyms() -> frozenset[str]:
    """The demonyms (the gazetteer's rules and its states') the stories use, singular and plural."""
    _, gazetteer = _data()
    words = {str(d) for d in gazetteer["rules"]["demonyms"]}
    words |= {str(e["demonym"]) for e in gazetteer["entities"] if e.get("demonym")}
    return frozenset(w for d in words for w in (d, d + "s") if _in_text(w))


@functools.cache
def states() -> frozenset[str]:
    """Places that speak through their governments ("Russia said"): the gazetteer's states and their aliases."""
    _, gazetteer = _data()
    return frozenset(
        n for e in gazetteer["entities"] if e["type"] == "place" and e.get("demonym")
        for n in (e["name"], *e.get("aliases", ()))
    )


def misfiled(facets: dict[str, list[str]]) -> dict[str, list[str]]:
    """The person, organisation and speaker values that are demo places or demonyms (states may speak)."""
    fold = {p.casefold() for p in demo_places()}
    demonyms = {d.casefold() for d in demo_demonyms()}
    speaking = {s.casefold() for s in states()}
    bad = {
        "person": [v for v in facets.get("person", []) if v.casefold() in fold | demonyms],
        "org": [v for v in facets.get("org", []) if v.casefold() in fold | demonyms],
        "speaker": [v for v in facets.get("speaker", []) if v.casefold() in (fold - speaking) | demonyms],
    }
    return {k: v for k, v in bad.items() if v}


def case_duplicates(values: list[str]) -> list[str]:
    """Values that differ only in case ("officials", "Officials"): each is one name and one facet entry."""
    seen: dict[str, str] = {}
    return [v for v in values if seen.setdefault(v.casefold(), v) != v]
