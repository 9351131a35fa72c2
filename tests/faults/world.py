"""A world to break things in: real services, real workers, a wire of synthetic stories, and faults.

``run_world`` starts Redis (AOF on), Elasticsearch behind a proxy that can answer 429, a feed server
publishing synthetic wire stories over ten outlets, and a worker set with beat. While stories are
released it kills pool children and the main worker process, restarts Redis, stops Elasticsearch
for a while, throttles bulk writes, and lets some pages and feeds time out once. Then it waits
until every expected story is searchable (or a deadline) and counts what went wrong: stories lost,
doubled or misclustered, and dead-letter records for anything but the pages known to be gone.

Everything runs on free ports and in a temporary folder, so several runs can share a machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.fetch import story_id_for
from tests.harness import ES_USER, ServiceUnavailable, _ensure_user, _java_home, es_health, free_port
from workers.demo import DemoArticle, render_article, render_feed
from workers.services import WorkerSet, redis_server_args, wait_for_redis
from workers.settings import Settings

ES_HOME_ENV = "WIREWATCH_TEST_ES_HOME"
SEED_ENV = "WIREWATCH_TEST_FAULTS_SEED"  # another schedule of faults and stories, to explore
DEFAULT_SEED = 20261127
DEFAULT_ES_HOME = "/opt/wirewatch/elasticsearch-8.19.3"
FEED_ITEMS = 100  # newest items a feed lists, as real feeds do

# --- the corpus: deterministic synthetic wire stories ------------------------------------------

# fmt: off
OUTLETS: tuple[tuple[str, str], ...] = (
    ("baltic-herald", "Baltic Herald"),
    ("northern-ledger", "Northern Ledger"),
    ("harbour-times", "Harbour Times"),
    ("vistula-post", "Vistula Post"),
    ("daugava-daily", "Daugava Daily"),
    ("nordic-observer", "Nordic Observer"),
    ("continental-wire", "Continental Wire Review"),
    ("eastern-gazette", "Eastern Gazette"),
    ("isthmus-courier", "Isthmus Courier"),
    ("meridian-news", "Meridian News"),
)
WIRES = ("Reuters", "AP", "AFP", None)
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "st", "tr", "dr", "gr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
_CODAS = ("", "n", "r", "s", "k", "l", "m", "th", "x")
_NOUNS = (
    "harbour", "pipeline", "convoy", "treaty", "budget", "border crossing", "rail link", "airfield",
    "shipyard", "garrison", "ferry line", "power grid", "customs post", "radar station", "grain depot",
    "parliament", "ministry", "embassy", "coalition", "inquiry", "cable", "bridge", "checkpoint",
    "fishing fleet", "refinery", "tariff", "sanctions package", "exercise", "airspace", "corridor",
    "delegation", "referendum", "strike", "reservoir", "dockyard", "vote", "patrol", "settlement",
)
_ADJECTIVES = (
    "disputed", "northern", "temporary", "costly", "fragile", "renewed", "quiet", "unexpected",
    "regional", "joint", "rival", "delayed", "formal", "narrow", "coastal", "emergency", "secret",
    "revised", "modest", "lengthy", "contested", "seasonal", "provisional", "ageing", "remote",
)
_VERBS = (
    ("inspect", "inspected"), ("suspend", "suspended"), ("expand", "expanded"), ("review", "reviewed"),
    ("close", "closed"), ("fund", "funded"), ("reroute", "rerouted"), ("monitor", "monitored"),
    ("delay", "delayed"), ("approve", "approved"), ("reject", "rejected"), ("repair", "repaired"),
    ("restrict", "restricted"), ("relocate", "relocated"), ("audit", "audited"), ("defend", "defended"),
)
_PLACES = (
    "Tallinn", "Riga", "Vilnius", "Gdansk", "Helsinki", "Narva", "Klaipeda", "Turku", "Liepaja",
    "Tartu", "Kaunas", "Visby", "Oulu", "Parnu", "Daugavpils", "Szczecin", "Malmo", "Kotka",
)
_PEOPLE = (
    "Anna Kask", "Peter Lind", "Marta Ozola", "Jonas Petraitis", "Elina Virtanen", "Tomas Nowak",
    "Ilse Berg", "Karl Saar", "Rasa Jankauskaite", "Oskar Holm", "Laura Kalnina", "Erik Dahl",
)
_ROLES = ("minister", "mayor", "analyst", "commander", "spokesman", "negotiator", "economist", "envoy")
_ORGS = (
    "interior ministry", "port authority", "defence council", "border guard", "energy regulator",
    "city council", "coast guard", "transport agency", "foreign ministry", "audit office",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_PERIODS = ("winter", "summer", "spring", "autumn", "week", "month", "quarter", "season")
# Every sentence holds at least one of the story's own coined words, so two different stories share
# only a few template phrases: their shingle containment stays near 0.03 (at most about 0.11 over
# 300 stories), far from the 0.55 that makes a copy. Copies measure 0.83 and above.
_SENTENCES = (
    "{Person} said on {day} that the {adj} {noun} near {Coin} would {verb} the {noun2} before {month}.",
    "Officials in {place} told reporters that {count} {noun} crews linked to {Coin} had been {verbed}.",
    "The {adj} {noun} was {verbed} by the {org} after talks about the {coin} {noun2}.",
    "According to the {org}, the {noun} at {Coin} has not been {verbed} since {month}.",
    "It was unclear whether the {coin} {noun} and the {adj} {noun2} in {place} were connected.",
    "{Person}, a {adj} {role} from {place}, described the {coin} {noun} as {adj2} but {adj3}.",
    "A spokeswoman for the {org} declined to {verb} the {adj} {noun} reported in {Coin} on {day}.",
    "Residents of {Coin} said the {noun} had been {verbed} {count} times during the {adj} {period}.",
    "The {org} plans to {verb} a {adj} {noun} with {Person} once the {coin} {noun2} is {verbed}.",
    "Analysts in {place} expect the {adj} {noun} around {Coin} to {verb} the {noun2} by {month}.",
    "{Person} warned that the {coin} {noun} could {verb} {count} {adj} routes through {place}.",
    "Local media in {Coin} reported that the {noun2} was {verbed} by {count} {role}s on {day}.",
)
# fmt: on


def _coin(rng: random.Random) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(3))


def _sentence(rng: random.Random, coined: list[str]) -> str:
    verb, verbed = rng.choice(_VERBS)
    noun, noun2 = rng.sample(_NOUNS, 2)
    adj, adj2, adj3 = rng.sample(_ADJECTIVES, 3)
    coin = rng.choice(coined)
    text = rng.choice(_SENTENCES).format(
        Person=rng.choice(_PEOPLE),
        day=rng.choice(_DAYS),
        adj=adj,
        adj2=adj2,
        adj3=adj3,
        noun=noun,
        noun2=noun2,
        Coin=coin.capitalize(),
        coin=coin,
        verb=verb,
        verbed=verbed,
        month=rng.choice(_MONTHS),
        place=rng.choice(_PLACES),
        count=rng.randint(2, 90),
        org=rng.choice(_ORGS),
        role=rng.choice(_ROLES),
        period=rng.choice(_PERIODS),
    )
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class StoryText:
    title: str
    summary: str
    dateline: str
    author: str
    wire: str | None
    paragraphs: tuple[str, ...]
    coined: tuple[str, ...]


def story_text(number: int, seed: int) -> StoryText:
    """A story's text from its number alone: 6-8 paragraphs, each with the story's own coined words."""
    rng = random.Random(f"{seed}:{number}")
    coined = [_coin(rng) for _ in range(12)]
    paragraphs = []
    for p in range(rng.randint(6, 8)):
        # Two of the story's own words in every paragraph, whatever the templates drew.
        own = rng.sample(coined, 2)
        sentences = [_sentence(rng, own) for _ in range(rng.randint(3, 4))]
        if p == 0:
            sentences.insert(1, f"The matter is filed under number {number} by the {rng.choice(_ORGS)}.")
        paragraphs.append(" ".join(sentences))
    noun = rng.choice(_NOUNS)
    title = f"{coined[0].capitalize()} {noun} {rng.choice(_VERBS)[1]} in {rng.choice(_PLACES)}, story {number}"
    return StoryText(
        title=title,
        summary=paragraphs[0].split(". ")[0] + ".",
        dateline=rng.choice(_PLACES).upper(),
        author=rng.choice(_PEOPLE),
        wire=rng.choice(WIRES),
        paragraphs=tuple(paragraphs),
        coined=tuple(coined),
    )


@dataclass(frozen=True)
class Corpus:
    """Every page of the run: the articles that must end up indexed, and the pages gone for good."""

    outlets: dict[str, dict[str, str]]
    articles: tuple[DemoArticle, ...]  # originals and copies: each must be indexed exactly once
    broken: tuple[DemoArticle, ...]  # answer 404 for ever: each must end in the dead-letter record
    slow_pages: frozenset[str]  # paths whose first request outlasts the client's read timeout
    distinct_stories: int

    @property
    def copies(self) -> int:
        return sum(a.is_copy for a in self.articles)

    @property
    def edited_copies(self) -> int:
        return sum(bool(a.intro) for a in self.articles)


def build_corpus(
    stories: int,
    seed: int,
    release_span_s: float,
    copy_share: float = 0.15,
    broken_pages: int = 4,
    slow_page_share: float = 0.04,
) -> Corpus:
    """Stories released one after another over ``release_span_s``; some copied by other outlets."""
    rng = random.Random(seed)
    outlets = {oid: {"id": oid, "name": name, "feed": "rss"} for oid, name in OUTLETS}
    outlet_ids = list(outlets)
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    articles: list[DemoArticle] = []
    for number in range(1, stories + 1):
        text = story_text(number, seed)
        release = release_span_s * (number - 1) / max(1, stories) * rng.uniform(0.97, 1.0)
        original = DemoArticle(
            slug=f"story-{number:05d}-{text.coined[0]}",
            outlet_id=rng.choice(outlet_ids),
            outlet_name="",
            title=text.title,
            summary=text.summary,
            published=start + timedelta(minutes=number),
            author=text.author,
            dateline=text.dateline,
            wire=text.wire,
            paragraphs=text.paragraphs,
            topic=False,
            keyword=text.coined[0],
            is_copy=False,
            release_s=release,
        )
        original = replace(original, outlet_name=outlets[original.outlet_id]["name"])
        articles.append(original)
        if rng.random() < copy_share:
            others = rng.sample([o for o in outlet_ids if o != original.outlet_id], rng.randint(1, 3))
            for outlet in others:
                copy = replace(
                    original,
                    outlet_id=outlet,
                    outlet_name=outlets[outlet]["name"],
                    is_copy=True,
                    release_s=min(release_span_s, release + rng.uniform(1.0, 10.0)),
                )
                if rng.random() < 0.5:
                    # Edited as outlets do: their own intro on top, the last paragraph cut.
                    copy = replace(
                        copy,
                        paragraphs=copy.paragraphs[:-1],
                        intro=(
                            f"Readers of {copy.outlet_name} have followed the {text.coined[1]} affair closely; "
                            f"this is the latest report on story {number} from our wire partners."
                        ),
                    )
                articles.append(copy)
    broken = []
    for k in range(broken_pages):
        broken.append(
            DemoArticle(
                slug=f"withdrawn-{k}-{_coin(rng)}",
                outlet_id=rng.choice(outlet_ids),
                outlet_name="",
                title=f"Withdrawn report {k}",
                summary="This report was withdrawn by its publisher.",
                published=start + timedelta(minutes=stories + k),
                author="",
                dateline="",
                wire=None,
                paragraphs=("",),
                topic=False,
                keyword="",
                is_copy=False,
                release_s=rng.uniform(0.1, 0.9) * release_span_s,
            )
        )
    broken = [replace(b, outlet_name=outlets[b.outlet_id]["name"]) for b in broken]
    slow = frozenset(a.path for a in articles if rng.random() < slow_page_share)
    return Corpus(outlets, tuple(articles), tuple(broken), slow, stories)


# --- the feed server ---------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up on a stalled answer is part of the plan


class FeedServer:
    """Serves /<outlet>/feed.xml (RSS, newest first, conditional GET) and /<outlet>/news/<slug>.

    Stories appear as their release time passes. A slow page stalls its first request beyond the
    client's read timeout and answers later ones; a slow feed stalls once at each of its set times;
    a broken page answers 404 always.
    """

    def __init__(self, corpus: Corpus, stall_s: float, feed_stalls: dict[str, list[float]]) -> None:
        self.corpus = corpus
        self.stall_s = stall_s
        self._feed_stalls = {k: sorted(v) for k, v in feed_stalls.items()}
        self._by_path = {a.path: a for a in corpus.articles}
        self._broken = {b.path: b for b in corpus.broken}
        self._outlet_index = {oid: i for i, oid in enumerate(corpus.outlets)}
        self._by_outlet: dict[str, list[DemoArticle]] = {oid: [] for oid in corpus.outlets}
        for a in sorted((*corpus.articles, *corpus.broken), key=lambda a: a.release_s):
            self._by_outlet[a.outlet_id].append(a)
        self._stalled: set[str] = set()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.started = time.monotonic()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                status, headers, body, delay = server.respond(self.path.split("?")[0], self.headers)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="feed-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, article: DemoArticle) -> str:
        return self.base_url + article.path

    def story_id(self, article: DemoArticle) -> str:
        return story_id_for(self.url(article))

    def feed_url(self, outlet: str) -> str:
        return f"{self.base_url}/{outlet}/feed.xml"

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def respond(self, path: str, headers: Any) -> tuple[int, dict[str, str], bytes, float]:
        html_type = {"Content-Type": "text/html; charset=utf-8"}
        parts = path.strip("/").split("/")
        now = self.elapsed()
        if len(parts) == 2 and parts[1] == "feed.xml" and parts[0] in self.corpus.outlets:
            outlet = parts[0]
            delay = 0.0
            with self._lock:
                stalls = self._feed_stalls.get(outlet)
                if stalls and stalls[0] <= now:
                    stalls.pop(0)
                    delay = self.stall_s
                    self.counts["feed_stalls"] += 1
            released = [a for a in self._by_outlet[outlet] if a.release_s <= now]
            etag = f'"{outlet}-{len(released)}"'
            if headers.get("If-None-Match") == etag and not delay:
                self.counts["feed_304"] += 1
                return 304, {"ETag": etag}, b"", 0.0
            items = list(reversed(released))[:FEED_ITEMS]
            ctype, body = render_feed(self.corpus.outlets[outlet], items, self.base_url)
            self.counts["feed_200"] += 1
            return 200, {"Content-Type": f"{ctype}; charset=utf-8", "ETag": etag}, body.encode(), delay
        if path in self._broken:
            self.counts["broken_404"] += 1
            return 404, html_type, b"<html><body><h1>Not found</h1></body></html>", 0.0
        article = self._by_path.get(path)
        if article is None or article.release_s > now:
            self.counts["unknown_404"] += 1
            return 404, html_type, b"<html><body><h1>Not found</h1></body></html>", 0.0
        delay = 0.0
        if path in self.corpus.slow_pages:
            with self._lock:
                if path not in self._stalled:
                    self._stalled.add(path)
                    delay = self.stall_s
                    self.counts["page_stalls"] += 1
        self.counts["pages"] += 1
        page = render_article(article, self._outlet_index[article.outlet_id], self.base_url)
        return 200, html_type, page.encode(), delay

    def start(self) -> FeedServer:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- a proxy in front of Elasticsearch ---------------------------------------------------------

_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


class EsProxy:
    """Forwards every request to Elasticsearch; can answer 429 to bulk writes; 503 while ES is down."""

    def __init__(self, target_url: str, timeout_s: float = 60.0) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.timeout_s = timeout_s
        self._throttle_until = 0.0
        self.counts: Counter[str] = Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                route = self.path.split("?", 1)[0]
                if route.endswith("/_bulk") and proxy.throttling():
                    proxy.counts["answered_429"] += 1
                    self._reply(
                        429, "es_rejected_execution_exception", "rejected by the fault proxy", {"Retry-After": "1"}
                    )
                    return
                conn = http.client.HTTPConnection(*proxy.target, timeout=proxy.timeout_s)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                    status, answer_headers = upstream.status, upstream.getheaders()
                except (OSError, http.client.HTTPException) as exc:
                    proxy.counts["answered_503"] += 1
                    self._reply(503, "unavailable", f"Elasticsearch unreachable: {exc}", {})
                    return
                finally:
                    conn.close()
                proxy.counts["forwarded"] += 1
                try:
                    self.send_response(status)
                    for key, value in answer_headers:
                        if key.lower() not in _HOP_HEADERS:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def _reply(self, status: int, kind: str, reason: str, extra: dict[str, str]) -> None:
                data = json.dumps({"error": {"type": kind, "reason": reason}, "status": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    for key, value in extra.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 - the stdlib's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="es-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def throttle(self, seconds: float) -> None:
        """Answer 429 (Retry-After: 1) to every bulk request for ``seconds``."""
        self._throttle_until = time.monotonic() + seconds

    def throttling(self) -> bool:
        return time.monotonic() < self._throttle_until

    def start(self) -> EsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- services that can be restarted in place ---------------------------------------------------


class RedisServer:
    """redis-server with AOF on a fixed port and folder, so a restart finds its data again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [binary, *redis_server_args(self.directory, port=self.port)]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            wait_for_redis(self.url, timeout_s)
        except RuntimeError as exc:
            raise ServiceUnavailable(f"Redis did not start on port {self.port}: {exc}") from exc

    def shutdown(self) -> None:
        """A graceful stop: the AOF is flushed, as on a planned restart."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True, timeout=30, check=False)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self, down_s: float) -> None:
        self.shutdown()
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ElasticsearchNode:
    """One Elasticsearch node that can be stopped and started again on its ports and data folder."""

    def __init__(self, es_home: Path, workdir: Path, heap: str = "512m") -> None:
        if not (es_home / "bin" / "elasticsearch").exists():
            raise ServiceUnavailable(f"no Elasticsearch at {es_home} (set {ES_HOME_ENV})")
        self.es_home = es_home
        self.workdir = workdir
        self.heap = heap
        self.port, self.transport_port = free_port(), free_port()
        self.pidfile = workdir / "run" / "es.pid"
        for sub in ("data", "logs", "run"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self, java: str) -> list[str]:
        cmd = [
            str(self.es_home / "bin" / "elasticsearch"),
            "-d",
            "-p",
            str(self.pidfile),
            "-Ediscovery.type=single-node",
            f"-Ehttp.port={self.port}",
            f"-Etransport.port={self.transport_port}",
            "-Ehttp.host=127.0.0.1",
            "-Etransport.host=127.0.0.1",
            f"-Epath.data={self.workdir / 'data'}",
            f"-Epath.logs={self.workdir / 'logs'}",
            "-Ecluster.routing.allocation.disk.threshold_enabled=false",
            "-Expack.security.enabled=false",
            "-Expack.ml.enabled=false",
        ]
        if os.geteuid() == 0:
            # Elasticsearch refuses to run as root.
            _ensure_user()
            subprocess.run(["chown", "-R", f"{ES_USER}:", str(self.workdir)], check=True)
            import pwd

            uid = pwd.getpwnam(ES_USER).pw_uid
            if (self.es_home / "config").stat().st_uid != uid:
                subprocess.run(["chown", "-R", f"{ES_USER}:", str(self.es_home)], check=True)
            cmd = [
                "runuser",
                "-u",
                ES_USER,
                "--",
                "env",
                f"ES_JAVA_HOME={java}",
                f"ES_JAVA_OPTS=-Xms{self.heap} -Xmx{self.heap}",
                *cmd,
            ]
        return cmd

    def start(self, timeout_s: float = 240.0) -> None:
        java = _java_home()
        env = {**os.environ, "ES_JAVA_HOME": java, "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}"}
        self.pidfile.unlink(missing_ok=True)
        done = subprocess.run(
            self._command(java), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if done.returncode != 0:
            raise ServiceUnavailable(f"Elasticsearch failed to start: {done.stderr.decode(errors='replace')[-2000:]}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if es_health(self.url) in ("green", "yellow"):
                return
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in (self.workdir / "logs").glob("*.log"))
        raise ServiceUnavailable(f"Elasticsearch did not become healthy in {timeout_s}s:\n{logs}")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self, timeout_s: float = 60.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir / "data", ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# --- workers that can be killed --------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the Celery pool children of a worker), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


class Workers:
    """The worker sets of a run: every kind of worker plus beat; a killed worker is replaced by a new one
    of the same kind."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.sets: list[WorkerSet] = []
        self.current: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[int] = set()
        self._lock = threading.Lock()
        self._kills = 0

    def start(self) -> None:
        with self._lock:
            self._start(beat=True, kinds=None)

    def _start(self, beat: bool, kinds: list[str] | None) -> None:
        workers = WorkerSet(self.settings, beat=beat, log_dir=self.log_dir, kinds=kinds)
        workers.start()
        self.sets.append(workers)
        self.current.update(workers.by_kind)

    def main_pid(self, kind: str = "process") -> int:
        return self.current[kind].pid

    def kill_pool_child(self, rng: random.Random, wait_s: float = 20.0) -> str | None:
        """SIGKILL one pool child of the process worker; None if it has none (yet)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._lock:
                children = children_of(self.main_pid())
                if children:
                    victim = rng.choice(children)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                    self.killed.add(victim)
                    return f"pool child {victim} of worker {self.main_pid()}"
            time.sleep(0.5)
        return None

    def kill_main_and_restart(self, kind: str | None = None) -> str:
        """SIGKILL a worker's main process (and its process group), then start a new worker of that kind.

        Without a kind, the kinds take turns: process, fetch, index, control.
        """
        with self._lock:
            if kind is None:
                kind = ("process", "fetch", "index", "control")[self._kills % 4]
            self._kills += 1
            proc = self.current[kind]
            children = children_of(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the pool children, now orphans, die with it
            self.killed.update([proc.pid, *children])
            proc.wait()
            self._start(beat=False, kinds=[kind])
            return f"{kind} worker {proc.pid} with children {children}; new worker {self.main_pid(kind)}"

    def crashed(self) -> list[str]:
        """Worker or beat processes that died without being killed by the world."""
        out = []
        with self._lock:
            for workers in self.sets:
                for proc in workers.processes:
                    if proc.poll() is not None and proc.pid not in self.killed:
                        out.append(f"{' '.join(str(a) for a in proc.args[3:6])} pid {proc.pid} exit {proc.returncode}")
        return out

    def stop(self) -> None:
        with self._lock:
            for workers in reversed(self.sets):
                workers.stop()


# --- faults ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong during a run; discrete faults start at random (seeded) moments in ``window``."""

    pool_kills: int = 3
    main_kills: int = 1
    redis_restarts: int = 1
    redis_down_s: float = 2.0
    es_outages_s: tuple[float, ...] = (20.0,)  # Elasticsearch stopped this long, once per entry
    throttles_s: tuple[float, ...] = (10.0,)  # bulk writes answered 429 this long, once per entry
    slow_page_share: float = 0.04  # pages whose first request outlasts the read timeout
    slow_feeds: int = 2  # feeds that stall once at each of ``stalls_per_feed`` moments
    stalls_per_feed: int = 2
    broken_pages: int = 4  # pages that answer 404 for ever
    window: tuple[float, float] = (0.1, 0.65)  # share of the run in which discrete faults start


@dataclass(frozen=True)
class FaultEvent:
    at_s: float
    kind: str  # pool_kill, main_kill, redis_restart, es_outage, throttle
    seconds: float = 0.0


def plan_events(plan: FaultPlan, duration_s: float, rng: random.Random) -> list[FaultEvent]:
    """Each discrete fault gets a slot of its own in the window (in shuffled order) and starts at a
    random moment in its first half, so faults overlap only when one is long (an outage)."""
    kinds = [("pool_kill", 0.0)] * plan.pool_kills + [("main_kill", 0.0)] * plan.main_kills
    kinds += [("redis_restart", plan.redis_down_s)] * plan.redis_restarts
    kinds += [("es_outage", s) for s in plan.es_outages_s] + [("throttle", s) for s in plan.throttles_s]
    rng.shuffle(kinds)
    lo, hi = plan.window[0] * duration_s, plan.window[1] * duration_s
    slot = (hi - lo) / max(1, len(kinds))
    events = [
        FaultEvent(lo + slot * i + rng.uniform(0, slot * 0.5), kind, seconds) for i, (kind, seconds) in enumerate(kinds)
    ]
    return sorted(events, key=lambda e: e.at_s)


class FaultInjector(threading.Thread):
    """Runs each planned fault at its moment, each in a thread of its own; records what was done."""

    def __init__(
        self,
        events: list[FaultEvent],
        rng: random.Random,
        redis: RedisServer,
        es: ElasticsearchNode,
        proxy: EsProxy,
        workers: Workers,
        log: Callable[[str], None],
    ) -> None:
        super().__init__(name="fault-injector", daemon=True)
        self.events = events
        self.rng = rng
        self.redis, self.es, self.proxy, self.workers = redis, es, proxy, workers
        self.log = log
        self.started_at = time.monotonic()
        self.done: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._es_lock = threading.Lock()
        self._redis_lock = threading.Lock()
        self._cancelled = threading.Event()

    def run(self) -> None:
        threads = []
        for event in self.events:
            if self._cancelled.wait(max(0.0, self.started_at + event.at_s - time.monotonic())):
                break
            thread = threading.Thread(target=self._inject, args=(event,), name=f"fault-{event.kind}", daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def cancel(self) -> None:
        self._cancelled.set()

    def _inject(self, event: FaultEvent) -> None:
        t = time.monotonic() - self.started_at
        try:
            detail = self._apply(event)
        except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is a failed run
            self.errors.append(f"{event.kind} at {t:.1f}s: {exc}\n{traceback.format_exc()[-2000:]}")
            self.log(f"fault {event.kind} FAILED: {exc}")
            return
        if detail is None:
            self.errors.append(f"{event.kind} at {t:.1f}s: nothing to act on")
            return
        ended = time.monotonic() - self.started_at
        self.done.append({"kind": event.kind, "at_s": round(t, 1), "until_s": round(ended, 1), "detail": detail})
        self.log(f"fault {event.kind} at {t:.1f}s..{ended:.1f}s: {detail}")

    def _apply(self, event: FaultEvent) -> str | None:
        if event.kind == "pool_kill":
            return self.workers.kill_pool_child(self.rng)
        if event.kind == "main_kill":
            return self.workers.kill_main_and_restart()
        if event.kind == "redis_restart":
            with self._redis_lock:
                self.redis.restart(event.seconds)
            return f"Redis down {event.seconds:.0f}s (graceful shutdown, AOF)"
        if event.kind == "es_outage":
            with self._es_lock:
                began = time.monotonic()
                self.es.stop()
                stopped = time.monotonic()
                time.sleep(event.seconds)
                self.es.start()
            return (
                f"Elasticsearch stopped in {stopped - began:.1f}s, down {event.seconds:.0f}s, "
                f"healthy again after {time.monotonic() - stopped:.1f}s"
            )
        if event.kind == "throttle":
            self.proxy.throttle(event.seconds)
            time.sleep(event.seconds)
            return f"bulk writes answered 429 for {event.seconds:.0f}s"
        raise ValueError(f"unknown fault {event.kind}")


# --- the run -----------------------------------------------------------------------------------

FIGURES = (
    "stories",
    "faults_injected",
    "indexed",
    "lost",
    "doubled",
    "misclustered",
    "dead_letters_unexpected",
    "dead_letters_expected",
    "seconds",
)


def es_home_from_env() -> Path:
    return Path(os.environ.get(ES_HOME_ENV, DEFAULT_ES_HOME))


def seed_from_env() -> int:
    return int(os.environ.get(SEED_ENV) or DEFAULT_SEED)


def run_world(
    stories: int,
    faults: FaultPlan,
    duration_s: float,
    *,
    seed: int = DEFAULT_SEED,
    settle_s: float = 120.0,
    release_share: float = 0.5,
    es_home: Path | None = None,
    keep: str = "on_failure",
    log_level: str = "WARNING",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the pipeline through the planned faults and count what went wrong.

    Stories are released over the first ``release_share`` of ``duration_s``; faults start within the
    plan's window. The run ends when every expected story is searchable, every fault is over, the
    pipeline has settled (nothing in flight) and every broken page has its dead-letter record, or at
    ``duration_s + settle_s``. Raises ``ServiceUnavailable`` when a service cannot start.
    """
    say = log or (lambda _msg: None)
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="ww-faults-"))
    os.chmod(root, 0o755)  # the Elasticsearch user must reach its folder inside
    corpus = build_corpus(
        stories,
        seed,
        duration_s * release_share,
        broken_pages=faults.broken_pages,
        slow_page_share=faults.slow_page_share,
    )
    settings_timeouts = {"connect_timeout_s": 1.0, "read_timeout_s": 2.0, "total_timeout_s": 5.0}
    feed_stalls = {
        outlet: sorted(rng.uniform(0.05, 0.9) * duration_s * release_share for _ in range(faults.stalls_per_feed))
        for outlet in rng.sample(sorted(corpus.outlets), faults.slow_feeds)
    }
    feeds = FeedServer(corpus, stall_s=settings_timeouts["read_timeout_s"] + 1.5, feed_stalls=feed_stalls)
    failed = True
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: _clean_up(root, keep, failed, say))
        stack.callback(feeds.stop)
        redis_server = RedisServer(root / "redis")
        stack.callback(redis_server.stop)
        redis_server.start()
        es = ElasticsearchNode(es_home or es_home_from_env(), root / "es")
        stack.callback(es.close)
        say(f"starting Elasticsearch on {es.url}")
        es.start()
        proxy = EsProxy(es.url).start()
        stack.callback(proxy.stop)
        feeds_file = root / "feeds.yaml"
        feeds_file.write_text(
            json.dumps(
                {
                    "feeds": [
                        {"name": o["name"], "url": feeds.feed_url(oid), "interval_s": 1}
                        for oid, o in corpus.outlets.items()
                    ]
                }
            )
        )
        settings = Settings(
            redis_url=redis_server.url,
            elasticsearch_url=proxy.url,
            index_prefix=f"wwfaults-{hashlib.sha256(str(root).encode()).hexdigest()[:8]}",
            data_dir=root / "data",
            feeds_file=str(feeds_file),
            allow_hosts=(feeds.base_url.split("//")[1],),  # exactly the feed server: host and port
            visibility_timeout_s=20,
            stuck_after_s=30.0,
            poll_min_interval_s=1.0,
            dispatch_every_s=0.5,
            host_min_gap_s=0.0,
            host_max_concurrency=32,
            task_max_retries=8,
            worker_concurrency=2,
            log_level=log_level,
            **settings_timeouts,
        )
        from elasticsearch import Elasticsearch

        from workers.runtime import Runtime

        runtime = Runtime(settings)
        runtime.index  # noqa: B018 - template, first version and aliases, as `wirewatch index init` does
        direct = Elasticsearch(es.url, request_timeout=10, max_retries=0)
        stack.callback(direct.close)
        workers = Workers(settings, root / "logs")
        stack.callback(workers.stop)
        workers.start()
        feeds.start()
        started = time.monotonic()
        events = plan_events(faults, duration_s, rng)
        injector = FaultInjector(
            events, rng, redis_server, es, proxy, workers, lambda m: say(f"[{time.monotonic() - started:6.1f}s] {m}")
        )
        injector.started_at = started
        injector.start()
        stack.callback(injector.cancel)

        expected = {feeds.story_id(a): a for a in corpus.articles}
        broken_ids = {feeds.story_id(b) for b in corpus.broken}
        release_end = max(a.release_s for a in (*corpus.articles, *corpus.broken))
        deadline = started + duration_s + settle_s
        present: set[str] = set()
        searchable_at: float | None = None
        last_report = 0.0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            present = _present(direct, settings.index_prefix, expected) or present
            now = time.monotonic()
            if len(present) == len(expected) and searchable_at is None:
                searchable_at = now
            if now - last_report > 15:
                last_report = now
                say(
                    f"[{now - started:6.1f}s] {len(present)}/{len(expected)} searchable, "
                    f"{feeds.counts['pages']} pages served, faults done {len(injector.done)}/{len(events)}; "
                    f"{_state(runtime)}"
                )
            if injector.is_alive() or now - started < release_end or len(present) < len(expected):
                continue
            settled = _settled(runtime, broken_ids)
            if settled:
                break
        end = time.monotonic()
        injector.cancel()
        injector.join(timeout=300)  # a service must be back up before the books are read
        crashed = workers.crashed()
        workers.stop()
        _ensure_up(redis_server, es, say)  # a restart that failed is reported, but the books are still read
        figures, diagnostics = _account(runtime, direct, settings.index_prefix, corpus, feeds, expected, broken_ids)
        seconds = (searchable_at or end) - started
        faults_injected = len(injector.done) + feeds.counts["page_stalls"] + feeds.counts["feed_stalls"]
        figures = {
            "stories": len(expected),
            "faults_injected": faults_injected,
            **figures,
            "seconds": round(seconds, 1),
            "seed": seed,
            "distinct_stories": corpus.distinct_stories,
            "copies": corpus.copies,
            "edited_copies": corpus.edited_copies,
            "broken_pages": len(corpus.broken),
            "pool_kills": sum(d["kind"] == "pool_kill" for d in injector.done),
            "main_kills": sum(d["kind"] == "main_kill" for d in injector.done),
            "redis_restarts": sum(d["kind"] == "redis_restart" for d in injector.done),
            "es_outages": sum(d["kind"] == "es_outage" for d in injector.done),
            "es_down_s": sum(e.seconds for e in events if e.kind == "es_outage"),
            "throttles": sum(d["kind"] == "throttle" for d in injector.done),
            "answered_429": proxy.counts["answered_429"],
            "answered_503": proxy.counts["answered_503"],
            "page_timeouts": feeds.counts["page_stalls"],
            "feed_timeouts": feeds.counts["feed_stalls"],
            "worker_crashes": len(crashed),
            "fault_errors": len(injector.errors),
        }
        diagnostics.update(
            faults=injector.done,
            fault_errors=injector.errors,
            crashed=crashed,
            root=str(root),
            server_counts=dict(feeds.counts),
            proxy_counts=dict(proxy.counts),
            worker_log_errors=_log_errors(root / "logs"),
        )
        failed = any(
            figures[k]
            for k in (
                "lost",
                "doubled",
                "misclustered",
                "dead_letters_unexpected",
                "worker_crashes",
                "fault_errors",
                "stuck",
            )
        )
        return {**figures, "diagnostics": diagnostics}
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


def _ensure_up(redis_server: RedisServer, es: ElasticsearchNode, say: Callable[[str], None]) -> None:
    if redis_server.process is None or redis_server.process.poll() is not None:
        say("Redis is not running after the faults: starting it again to read the results")
        redis_server.start()
    if es_health(es.url) not in ("green", "yellow"):
        say("Elasticsearch is not running after the faults: starting it again to read the results")
        es.stop()
        es.start()


def _clean_up(root: Path, keep: str, failed: bool, say: Callable[[str], None]) -> None:
    if keep == "always" or (keep == "on_failure" and failed):
        shutil.rmtree(root / "es" / "data", ignore_errors=True)
        shutil.rmtree(root / "data" / "raw", ignore_errors=True)
        say(f"logs kept in {root}")
        return
    shutil.rmtree(root, ignore_errors=True)


def _present(es: Any, prefix: str, expected: dict[str, Any]) -> set[str] | None:
    try:
        found: set[str] = set()
        ids = list(expected)
        for i in range(0, len(ids), 5000):
            chunk = ids[i : i + 5000]
            resp = es.search(index=prefix, query={"ids": {"values": chunk}}, size=len(chunk), source=False)
            found.update(h["_id"] for h in resp["hits"]["hits"])
        return found
    except Exception:  # noqa: BLE001 - Elasticsearch may be down on purpose
        return None


def _state(runtime: Any) -> str:
    """What waits where: each broker queue, the frontier, the bulk queue and its lock, stories in flight."""
    from workers.dispatcher import queue_depth
    from workers.topology import QUEUES

    try:
        r = runtime.redis
        queues = ", ".join(f"{q} {queue_depth(r, q)}" for q in QUEUES)
        hosts = runtime.frontier.hosts()
        return (
            f"queues: {queues}; frontier {sum(h['queued'] for h in hosts.values())} waiting, "
            f"{sum(h['active'] for h in hosts.values())} active; extract line {runtime.extract_line.waiting()}; "
            f"bulk queue {runtime.index_queue.pending()} "
            f"(lock ttl {r.pttl(runtime.index_queue.name + ':lock')} ms), in flight {runtime.ledger.in_flight_count()}"
        )
    except Exception as exc:  # noqa: BLE001 - Redis may be restarting
        return f"state unavailable ({type(exc).__name__})"


def _settled(runtime: Any, broken_ids: set[str]) -> bool:
    try:
        if runtime.ledger.in_flight_count():
            return False
        dead = {r.get("story_id") for r in runtime.ledger.dead_letters()}
        return broken_ids <= dead
    except Exception:  # noqa: BLE001 - Redis may be restarting
        return False


def _account(
    runtime: Any,
    es: Any,
    prefix: str,
    corpus: Corpus,
    feeds: FeedServer,
    expected: dict[str, DemoArticle],
    broken_ids: set[str],
) -> tuple[dict[str, int], dict[str, Any]]:
    """Count lost, doubled and misclustered stories and unexpected dead letters."""
    es.indices.refresh(index=f"{prefix}-v*")
    resp = es.search(
        index=f"{prefix}-v*", size=10000, query={"match_all": {}}, source=["cluster.id"], track_total_hits=True
    )
    total = resp["hits"]["total"]["value"]
    cluster = {h["_id"]: h["_source"]["cluster"]["id"] for h in resp["hits"]["hits"]}
    found = set(expected) & set(cluster)
    lost = sorted(set(expected) - found)
    unexpected_ids = sorted(set(cluster) - set(expected))
    # Members of one wire story (original and copies) must share a cluster; no two stories may.
    group = {sid: a.slug for sid, a in expected.items()}
    originals = {a.slug: sid for sid, a in expected.items() if not a.is_copy}
    misclustered: list[str] = []
    for sid, article in expected.items():
        if article.is_copy and sid in cluster and originals[article.slug] in cluster:
            if cluster[sid] != cluster[originals[article.slug]]:
                misclustered.append(f"copy {article.path} not with its original")
    members: dict[str, list[str]] = {}
    for sid, cid in cluster.items():
        members.setdefault(cid, []).append(sid)
    for cid, sids in members.items():
        groups = Counter(group.get(s, "?") for s in sids)
        if len(groups) > 1:
            main = groups.most_common(1)[0][0]
            misclustered += [
                f"{expected[s].path if s in expected else s} in cluster {cid} of {main}"
                for s in sids
                if group.get(s, "?") != main
            ]
    records = runtime.ledger.dead_letters()
    unexpected_dead = [r for r in records if r.get("story_id") not in broken_ids]
    expected_dead = {r.get("story_id") for r in records if r.get("story_id") in broken_ids}
    stuck = runtime.ledger.in_flight_count()
    figures = {
        "indexed": len(found),
        "lost": len(lost),
        "doubled": total - len(found),
        "misclustered": len(misclustered),
        "dead_letters_unexpected": len(unexpected_dead),
        "dead_letters_expected": len(expected_dead),
        "broken_without_dead_letter": len(broken_ids - expected_dead),
        "stuck": stuck,
    }
    diagnostics: dict[str, Any] = {
        "lost": [{"path": expected[s].path, "story_id": s, "trace": _trace(runtime, s)} for s in lost[:5]],
        "unexpected_ids": unexpected_ids[:10],
        "misclustered": misclustered[:10],
        "unexpected_dead_letters": [
            {
                **{k: r.get(k) for k in ("story_id", "stage", "error", "attempts", "task")},
                "path": expected[r["story_id"]].path if r.get("story_id") in expected else None,
                "trace": _trace(runtime, str(r.get("story_id"))),
            }
            for r in unexpected_dead[:5]
        ],
        "outcomes": runtime.ledger.outcome_counts(),
    }
    return figures, diagnostics


def _trace(runtime: Any, story_id: str) -> list[str]:
    return [f"{e['stage']}:{e['outcome']} {str(e.get('detail', ''))[:120]}" for e in runtime.ledger.trace(story_id)]


def _log_errors(log_dir: Path) -> list[str]:
    """Error lines from the worker and beat logs (the expected noise of faults included)."""
    lines: list[str] = []
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"level": "error"' in line or "CRITICAL" in line or "Traceback" in line:
                lines.append(f"{path.name}: {line[:400]}")
    return lines[-40:]


def summary(figures: dict[str, Any], keys: Iterable[str] = FIGURES) -> str:
    return ", ".join(f"{k}={figures[k]}" for k in keys)
