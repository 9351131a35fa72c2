"""Property: no stored field is garbled, whatever the corpus feed's bytes and declarations say.

Hypothesis takes a feed of the hostile corpus, adds items in Cyrillic, Greek, Chinese, Japanese and
Latin scripts, encodes the whole in one charset and declares another (in the HTTP header, the XML
declaration, both or neither). Whatever ``parse_feed`` keeps must hold no U+FFFD and no
windows-1252 or Latin-1 reading of those texts; when the declaration is right, or the bytes are
UTF-8, the text comes out exactly. (The chain test checks the same of every indexed document.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from string import Template

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.errors import StageError
from pipeline.fetch import CHARSET_OVERRIDE, CHARSET_UNCLEAN, ParsedFeed, parse_feed, utf8_mojibake

CORPUS = Path(__file__).resolve().parent / "corpus"
BASE = "http://127.0.0.1:8000"
FEEDS = ("ok_rss.xml", "mixed_rss.xml", "wrong_charset.xml", "cyrillic_1251.xml", "bom.xml", "isolated_rss.xml",
         "cyrillic_declared_utf8.xml")
TEXTS = {
    "ru": "Правительство объявило новые меры поддержки для жителей Калининграда",
    "el": "Η κυβέρνηση ανακοίνωσε νέα μέτρα για την ενέργεια στην Αθήνα",
    "zh": "北京市政府宣布新的交通措施，地铁将延长运营时间",
    "ja": "日本の首相が来週バルト三国を訪問すると発表した",
    "pl": "Rada Miasta Łodzi przyjęła budżet na przyszły rok",
    "de": "Straßenbahn nach Örlikon fährt ab Montag wieder",
}
NON_LATIN = ("ru", "el", "zh", "ja")
ENCODINGS = ("utf-8", "cp1251", "iso-8859-7", "gbk", "big5", "shift_jis", "cp1252", "iso-8859-2", "utf-16")
DECLARATIONS = (None, "utf-8", "windows-1252", "iso-8859-1", "windows-1251", "iso-8859-7", "gbk", "shift_jis")
EXAMPLES = int(os.environ.get("WIREWATCH_FUZZ_EXAMPLES", "150"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=bool(os.environ.get("CI")))
_DECL = re.compile(r'^<\?xml[^>]*\?>')


def _wrong_readings() -> list[str]:
    """Stretches of what each non-Latin text becomes when its bytes are read as windows-1252 or Latin-1."""
    out = []
    for key in NON_LATIN:
        for encoding in ENCODINGS:
            try:
                raw = TEXTS[key].encode(encoding)
            except UnicodeEncodeError:
                continue
            for single in ("cp1252", "latin-1"):
                reading = raw.decode(single, errors="replace")
                out += [s for s in re.split("[\ufffd\x00-\x1f]", reading) if len(s) >= 6]
    return out


WRONG_READINGS = _wrong_readings()


def _document(feed: str, keys: list[str], declared: str | None) -> str:
    text = Template((CORPUS / feed).read_text(encoding="utf-8")).substitute(base=BASE)
    items = "".join(
        f"<item><title>{TEXTS[k]}</title><link>{BASE}/prop/{n}-{k}</link><description>{TEXTS[k]}</description></item>"
        for n, k in enumerate(keys)
    )
    text = text.replace("</channel>", items + "</channel>", 1)
    decl = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    return _DECL.sub(decl, text.lstrip(), count=1)


def _stored(feed: ParsedFeed) -> list[str]:
    out = [feed.title, *(p.detail for p in feed.problems)]
    for entry in feed.entries:
        out += [entry.title, entry.summary, entry.guid, entry.url]
    return out


@PROPERTY
@given(
    feed=st.sampled_from(FEEDS),
    keys=st.lists(st.sampled_from(sorted(TEXTS)), min_size=1, max_size=4),
    encoding=st.sampled_from(ENCODINGS),
    in_header=st.sampled_from(DECLARATIONS),
    in_document=st.sampled_from(DECLARATIONS),
)
def test_nothing_stored_is_garbled(
    feed: str, keys: list[str], encoding: str, in_header: str | None, in_document: str | None
) -> None:
    document = _document(feed, keys, in_document)
    try:
        body = document.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
        return
    content_type = "application/rss+xml" + (f"; charset={in_header}" if in_header else "")
    try:
        parsed = parse_feed(body, BASE + "/feed", content_type)
    except StageError:
        return  # refused with a reason: nothing stored
    stored = _stored(parsed)
    assert not [s for s in stored if "\ufffd" in s]
    assert not [s for s in stored if utf8_mojibake(s)]
    assert not [(r, s) for s in stored for r in WRONG_READINGS if r in s]
    by_url = {e.url: e for e in parsed.entries}
    declared = in_header or in_document
    right = declared is not None and "".encode(encoding) == b"" and _same_codec(declared, encoding)
    if encoding in ("utf-8", "utf-16") or right:
        for n, key in enumerate(keys):
            entry = by_url.get(f"{BASE}/prop/{n}-{key}")
            assert entry is not None, (key, parsed.problems)
            assert (entry.title, entry.summary) == (TEXTS[key], TEXTS[key])
    if right:
        assert not [p for p in parsed.problems if p.kind in (CHARSET_OVERRIDE, CHARSET_UNCLEAN)], parsed.problems


def _same_codec(a: str, b: str) -> bool:
    import codecs

    return codecs.lookup(a).name == codecs.lookup(b).name
