"""Learned outlet boilerplate: a paragraph that recurs on many different stories of one outlet.

Titles are learned the same way: the first or last part of a title ("Headline | Harbour Ledger - Baltic
edition") that recurs on many stories of one outlet is the outlet's own, not the headline, and comes
off, however the outlet names itself (og:site_name only catches the names it declares).

The rules in config/boilerplate.yaml catch what is known up front; an outlet's own tail (an AI-production
disclosure, a trading promotion in words no rule knows) is learned from evidence: the same paragraph on at
least ``min_stories`` different stories of that outlet, and on no more than ``max_outlets`` outlets (a
paragraph many outlets carry is wire copy, i.e. news). The evidence lives behind the BoilerplateMemory
port, shared by all workers; this module only decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pipeline.metadata import TITLE_SEPARATORS, TITLE_SPLIT
from pipeline.models import CleanStory
from pipeline.ports import BoilerplateMemory, Evidence


@dataclass(frozen=True)
class BoilerplateOptions:
    min_stories: int = 5  # evidence before a paragraph counts as the outlet's boilerplate
    max_outlets: int = 1  # carried by more outlets than this: wire copy, never removed
    max_words: int = 80  # longer paragraphs are story, whatever repeats


_DIGITS = re.compile(r"\d+")


def paragraph_key(paragraph: str) -> str:
    """A short fingerprint of a paragraph, blind to case, spacing and numbers (dates, prices change)."""
    folded = _DIGITS.sub("0", " ".join(paragraph.casefold().split()))
    return hashlib.blake2b(folded.encode(), digest_size=8).hexdigest()


def candidates(story: CleanStory, options: BoilerplateOptions) -> dict[str, str]:
    """Fingerprint -> paragraph for the paragraphs of a story that could be boilerplate (short enough)."""
    out: dict[str, str] = {}
    for para in story.text.split("\n\n"):
        if para and len(para.split()) <= options.max_words:
            out.setdefault(paragraph_key(para), para)
    return out


def is_learned(evidence: Evidence, options: BoilerplateOptions) -> bool:
    return evidence.stories >= options.min_stories and evidence.outlets <= options.max_outlets


def strip_learned(
    story: CleanStory, evidence: Mapping[str, Evidence], options: BoilerplateOptions
) -> tuple[CleanStory, tuple[str, ...]]:
    """The story without the paragraphs its outlet is known to repeat, and the paragraphs taken out.

    The evidence must come from other stories (read before this one is recorded), so a first story is
    never mangled. A story is never emptied: if every paragraph would go, none does.
    """
    kept: list[str] = []
    removed: list[str] = []
    for para in story.text.split("\n\n"):
        key = paragraph_key(para)
        if len(para.split()) <= options.max_words and key in evidence and is_learned(evidence[key], options):
            removed.append(para)
        else:
            kept.append(para)
    if not removed or not kept:
        return story, ()
    return replace(story, text="\n\n".join(kept)), tuple(removed)


def _title_parts(title: str) -> tuple[str, str] | None:
    """The first and last parts of a title split at its separators (None: one part only)."""
    parts = [p for p in TITLE_SPLIT.split(" ".join(title.split())) if p.strip()]
    return (parts[0], parts[-1]) if len(parts) >= 2 else None


def _affix_key(where: str, part: str) -> str:
    return paragraph_key(f"\x00title {where}\x00{part}")


def title_candidates(title: str) -> dict[str, str]:
    """Fingerprint -> description of the title's first and last parts, as the outlet view shows them."""
    ends = _title_parts(title)
    if ends is None:
        return {}
    first, last = ends
    return {_affix_key("last", last): f"title ends with: … | {last}",
            _affix_key("first", first): f"title starts with: {first} | …"}


def strip_learned_title(title: str, evidence: Mapping[str, Evidence], options: BoilerplateOptions) -> str:
    """The title without a first or last part its outlet is known to repeat (never emptied to a fragment)."""
    out = " ".join(title.split())
    ends = _title_parts(out)
    if ends is None:
        return title
    first, last = ends
    if (ev := evidence.get(_affix_key("last", last))) is not None and is_learned(ev, options):
        out = out[: out.rfind(last)].rstrip().rstrip(TITLE_SEPARATORS).rstrip()
    if (ev := evidence.get(_affix_key("first", first))) is not None and is_learned(ev, options) \
            and out.startswith(first) and out != first:
        out = out[len(first):].lstrip().lstrip(TITLE_SEPARATORS).lstrip()
    return out if len(out.split()) >= 2 else title


def outlet_key(story: CleanStory) -> str:
    """The outlet a story's boilerplate is learned for: the host of its canonical URL, without www."""
    host = urlsplit(story.canonical_url or story.url).hostname or story.outlet or "unknown"
    return host.lower().removeprefix("www.")


def remove_learned_boilerplate(
    story: CleanStory, memory: BoilerplateMemory, options: BoilerplateOptions
) -> tuple[CleanStory, tuple[str, ...]]:
    """Strip what other stories of the outlet showed to be boilerplate (paragraphs, and the outlet's own
    part of the title), then add this story's evidence.

    The same whether the story is new, redelivered or cleaned again by a reprocess: its own earlier
    sighting never counts as evidence, and recording it again adds none (the memory counts story ids).
    """
    outlet = outlet_key(story)
    found = candidates(story, options) | title_candidates(story.title)
    evidence = memory.evidence(outlet, found, excluding=story.story_id)
    cleaned, removed = strip_learned(story, evidence, options)
    title = strip_learned_title(story.title, evidence, options)
    if title != story.title:
        cleaned = replace(cleaned, title=title)
    memory.record(outlet, story.story_id, found)
    return cleaned, removed
