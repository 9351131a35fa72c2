"""What kind of page a page is: an article, or a wall, a banner, an error or an index.

The page's metadata lives in pipeline/metadata.py.
"""

from __future__ import annotations

import re
from typing import Any

# Phrases that mark pages which are not the article itself, even when served with status 200.
_NOT_ARTICLE = {
    "paywall": re.compile(
        r"subscribe (now )?to (continue|read|keep reading|unlock)|this (article|content|story) is (only )?"
        r"(available|reserved) (to|for) (subscribers|members)|already a subscriber|to continue reading,? "
        r"(please )?(subscribe|log ?in|sign ?in)|become a (subscriber|member) to read",
        re.IGNORECASE,
    ),
    "bot_challenge": re.compile(
        r"checking (if the site connection is secure|your browser)|verify(ing)? (that )?you are (a )?human|"
        r"enable (javascript|cookies) (and cookies )?to continue|are you a robot|captcha|ray id:|"
        r"access (to this page has been )?denied|unusual traffic from your (computer )?network",
        re.IGNORECASE,
    ),
    "consent": re.compile(
        r"(we|our partners) use cookies|cookie (settings|preferences|consent)|your privacy choices|"
        r"(accept|reject) all( cookies)?|manage (your )?consent",
        re.IGNORECASE,
    ),
    "error": re.compile(
        r"^(404|410|500|error|page not found|not found|this page (doesn.t|does not) exist|"
        r"sorry,? (the|this) page)",
        re.IGNORECASE,
    ),
}


def page_kind(title: str, paragraphs: list[str], link_text_ratio: float) -> str:
    """``article``, or why not: paywall, bot_challenge, consent, error, index."""
    text = " ".join(paragraphs)
    words = len(text.split())
    long_paragraphs = sum(1 for p in paragraphs if len(p.split()) >= 25)
    if _NOT_ARTICLE["error"].search(title.strip()) and words < 150:
        return "error"
    for kind in ("bot_challenge", "paywall", "consent"):
        matching = sum(len(p.split()) for p in paragraphs if _NOT_ARTICLE[kind].search(p))
        # A wall or a banner is most of what such a page says; an article may mention cookies in passing.
        if matching and (matching / max(words, 1) > 0.4 or words < 120):
            return kind
    if long_paragraphs == 0 and link_text_ratio > 0.5 and len(paragraphs) >= 5:
        return "index"
    return "article"


def link_text_ratio(tree: Any) -> float:
    """Share of the body's text that sits inside links: high on index and tag pages."""
    body = tree.find(".//body") if tree is not None else None
    if body is None:
        return 0.0
    total = len(" ".join(body.itertext()).split()) or 1
    linked = sum(len(" ".join(a.itertext()).split()) for a in body.iter("a"))
    return min(1.0, linked / total)
