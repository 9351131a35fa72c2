"""The demo: a local server publishing the project's own wire-style stories as feeds and pages.

Stories appear in the feeds one after another, as on a real wire, and copies of a wire story
appear at other outlets a little later, each page wrapped in its outlet's own boilerplate.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from pipeline.fetch import story_id_for

DEMO_PORT = 8765


@dataclass(frozen=True)
class DemoArticle:
    slug: str  # story slug, same for every copy
    outlet_id: str
    outlet_name: str
    title: str
    summary: str
    published: datetime
    author: str
    dateline: str
    wire: str | None
    paragraphs: tuple[str, ...]
    topic: bool
    keyword: str
    is_copy: bool
    release_s: float  # seconds after the server starts when the entry appears in the feed
    intro: str = ""  # an outlet's own opening paragraph on an edited copy

    @property
    def path(self) -> str:
        return f"/{self.outlet_id}/news/{self.slug}"


def load_corpus(
    path: Path, spacing_s: float = 0.25, minute_s: float = 0.05
) -> tuple[dict[str, dict[str, Any]], list[DemoArticle]]:
    """Outlets and every article (originals and copies) with its release time in the demo."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    outlets = {o["id"]: o for o in data["outlets"]}
    stories = sorted(data["stories"], key=lambda s: s["published"])
    articles: list[DemoArticle] = []
    for i, s in enumerate(stories):
        base = {
            "slug": s["id"],
            "title": s["title"],
            "summary": s["summary"],
            "published": datetime.fromisoformat(s["published"].replace("Z", "+00:00")),
            "author": s["author"],
            "dateline": s["dateline"],
            "wire": s.get("wire"),
            "paragraphs": tuple(" ".join(p.split()) for p in s["paragraphs"]),
            "topic": bool(s["topic"]),
            "keyword": s["keyword"],
        }
        release = i * spacing_s
        articles.append(
            DemoArticle(
                outlet_id=s["outlet"],
                outlet_name=outlets[s["outlet"]]["name"],
                is_copy=False,
                release_s=release,
                **base,
            )
        )
        for n, c in enumerate(s.get("copies") or []):
            copy = DemoArticle(
                outlet_id=c["outlet"],
                outlet_name=outlets[c["outlet"]]["name"],
                is_copy=True,
                release_s=release + c["delay_minutes"] * minute_s,
                **base,
            )
            if n == 1 or c["delay_minutes"] > 20:
                # Later copies are edited as outlets do: their own intro on top, the last paragraph cut.
                copy = replace(
                    copy,
                    paragraphs=copy.paragraphs[:-1],
                    intro=(
                        f"Readers of {copy.outlet_name} in the region have followed this story closely; "
                        f"this is the latest report we have received from our wire partners."
                    ),
                )
            articles.append(copy)
    return outlets, articles


# Each outlet wraps the same story in different furniture, as real sites do.
_CHROME = {
    0: (
        "<nav class='top'><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/europe'>Europe</a>"
        " | <a href='/business'>Business</a></nav>",
        "<aside class='related'><h3>Read next</h3><ul><li><a href='/x1'>Markets steady ahead of rate call</a>"
        "</li><li><a href='/x2'>Ferry services resume after storm</a></li></ul></aside>",
    ),
    1: (
        "<header><div class='brand'>{outlet}</div><ul class='menu'><li>News</li><li>Opinion</li>"
        "<li>Sport</li></ul></header>",
        "<div class='newsletter'>Sign up to our morning newsletter for the day's top stories.</div>",
    ),
    2: (
        "<div class='masthead'>{outlet} <span>Independent journalism since 1921</span></div>",
        "<section class='more'><h2>More on this story</h2><p><a href='/y1'>Analysis: what the drills "
        "mean</a></p></section>",
    ),
    3: (
        "<div id='bar'><a href='/'>{outlet}</a> <a href='/subscribe'>Subscribe</a> <a href='/login'>Log in</a></div>",
        "<div class='share'>Share this article on social media</div>",
    ),
}


def render_article(article: DemoArticle, outlet_index: int, base_url: str) -> str:
    top, bottom = _CHROME[outlet_index % len(_CHROME)]
    esc = html.escape
    credit = f" ({esc(article.wire)})" if article.wire else ""
    paras = list(article.paragraphs)
    body = [f"<p>{esc(article.intro)}</p>"] if article.intro else []
    body += [f"<p>{esc(article.dateline)}{credit} - {esc(paras[0])}</p>"]
    body += [f"<p>{esc(p)}</p>" for p in paras[1:]]
    if article.wire:
        body.append(f"<p class='credits'>Reporting by {esc(article.author)}; Editing by Hanna Ostrowska</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(article.title)} | {esc(article.outlet_name)}</title>
<link rel="canonical" href="{esc(base_url + article.path)}">
<meta property="og:site_name" content="{esc(article.outlet_name)}">
<meta property="og:title" content="{esc(article.title)}">
<meta name="author" content="{esc(article.author)}">
<meta property="article:published_time" content="{article.published.isoformat()}">
</head><body>
{top.format(outlet=esc(article.outlet_name))}
<main><article>
<h1>{esc(article.title)}</h1>
<div class="byline">By {esc(article.author)} | {article.published.strftime("%d %B %Y %H:%M")} UTC</div>
<figure><img src="/img/{article.slug}.jpg" alt="">
<figcaption>Photo: {esc(article.outlet_name)} archive</figcaption></figure>
{chr(10).join(body)}
<p class="copyright">Copyright 2026 {esc(article.outlet_name)}. All rights reserved.</p>
</article></main>
{bottom}
<footer><p>&copy; 2026 {esc(article.outlet_name)} Media Group</p><a href="/privacy">Privacy</a></footer>
</body></html>"""


def render_feed(outlet: Mapping[str, Any], articles: list[DemoArticle], base_url: str) -> tuple[str, str]:
    """(content type, body) of an outlet's RSS or Atom feed listing the given articles, newest first."""
    esc = html.escape
    name = esc(outlet["name"])
    if outlet["feed"] == "atom":
        items = "".join(
            f'<entry><title>{esc(a.title)}</title><link href="{esc(base_url + a.path)}"/>'
            f"<id>{esc(base_url + a.path)}</id><updated>{a.published.isoformat()}</updated>"
            f"<summary>{esc(a.summary)}</summary></entry>"
            for a in articles
        )
        return "application/atom+xml", (
            f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{name}</title><id>{esc(base_url)}/{outlet['id']}</id>"
            f"<updated>{datetime.now().astimezone().isoformat()}</updated>{items}</feed>"
        )
    items = "".join(
        f"<item><title>{esc(a.title)}</title>"
        f"<link>{esc(base_url + a.path)}?utm_source=rss&amp;utm_medium=feed</link>"
        f'<guid isPermaLink="false">{a.outlet_id}-{a.slug}</guid>'
        f"<pubDate>{format_datetime(a.published)}</pubDate><description>{esc(a.summary)}</description></item>"
        for a in articles
    )
    return "application/rss+xml", (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>{esc(base_url)}/{outlet['id']}</link><description>{name} world news</description>{items}"
        f"</channel></rss>"
    )


class DemoServer:
    """Serves /<outlet>/feed.xml and /<outlet>/news/<slug>; records when each page was first served."""

    def __init__(self, corpus: Path, host: str = "127.0.0.1", port: int = DEMO_PORT, spacing_s: float = 0.25) -> None:
        self.outlets, self.articles = load_corpus(corpus, spacing_s=spacing_s)
        self._outlet_index = {oid: i for i, oid in enumerate(self.outlets)}
        self._by_path = {a.path: a for a in self.articles}
        self.served: dict[str, float] = {}  # article path -> first time its page was served
        self._lock = threading.Lock()
        self._httpd = self._bind(host, port)
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _bind(self, host: str, port: int) -> ThreadingHTTPServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, ctype, body = server.respond(self.path.split("?")[0])
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        try:
            return ThreadingHTTPServer((host, port), Handler)
        except OSError:
            return ThreadingHTTPServer((host, 0), Handler)  # the usual port is taken: any free one

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def feed_urls(self) -> list[tuple[str, str]]:
        return [(o["name"], f"{self.base_url}/{oid}/feed.xml") for oid, o in self.outlets.items()]

    def story_id(self, article: DemoArticle) -> str:
        return story_id_for(self.base_url + article.path)

    def released(self, now: float | None = None) -> list[DemoArticle]:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return [a for a in self.articles if a.release_s <= elapsed]

    def respond(self, path: str) -> tuple[int, str, str]:
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "feed.xml" and parts[0] in self.outlets:
            items = [a for a in self.released() if a.outlet_id == parts[0]]
            items.sort(key=lambda a: a.release_s, reverse=True)
            return (200, *render_feed(self.outlets[parts[0]], items[:50], self.base_url))
        article = self._by_path.get(path)
        if article is not None and article in self.released():
            with self._lock:
                self.served.setdefault(path, time.time())
            return (
                200,
                "text/html",
                render_article(article, self._outlet_index[article.outlet_id], self.base_url),
            )
        return 404, "text/html", "<html><body><h1>Not found</h1></body></html>"

    def start(self) -> DemoServer:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def close(self) -> None:
        """Release the port of a server that was never started."""
        self._httpd.server_close()
