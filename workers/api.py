"""The read-only HTTP JSON API and the search page, served by ``wirewatch serve``.

Parameters are declared once (``SEARCH_PARAMS``, ``CLAIM_PARAMS``) and drive both the parsing of
requests and the OpenAPI description, so the two cannot drift apart.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.errors import StageError
from pipeline.models import ClaimQuery, SearchQuery
from pipeline.ports import StoryIndex

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
MAX_SIZE = 100
MAX_BODY = 64 * 1024
WATCH_NAME = r"[a-z0-9][a-z0-9_-]{0,63}"
SSE_BLOCK_MS = 15_000
SSE_MAX_S = 600.0


def valid_time(raw: str) -> bool:
    """A date (YYYY-MM-DD) or ISO 8601 time that exists: 2026-13-45 does not."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?", raw):
        return False
    try:
        datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class BadRequest(ValueError):
    """A parameter is malformed; the client gets a 400 with this message."""


@dataclass(frozen=True)
class Param:
    name: str  # in the query string
    field: str  # on the query object
    kind: str  # string, integer, number, boolean, date
    description: str
    enum: tuple[str, ...] = ()
    default: Any = None

    def parse(self, raw: str) -> Any:
        try:
            if self.kind == "integer":
                value: Any = int(raw)
                if not 0 <= value <= (MAX_SIZE if self.name == "size" else 10_000):
                    raise BadRequest(f"{self.name} out of range: {raw}")
                return value
            if self.kind == "number":
                return float(raw)
            if self.kind == "boolean":
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise BadRequest(f"{self.name} must be true or false")
                return raw.lower() in ("true", "1", "yes")
            if self.kind == "date" and not valid_time(raw):
                raise BadRequest(f"{self.name} must be a date (YYYY-MM-DD) or an ISO 8601 time: {raw!r}")
        except ValueError as exc:
            if isinstance(exc, BadRequest):
                raise
            article = "an" if self.kind[0] in "aeiou" else "a"
            raise BadRequest(f"{self.name} must be {article} {self.kind}: {raw!r}") from exc
        if self.enum and raw not in self.enum:
            raise BadRequest(f"{self.name} must be one of {', '.join(self.enum)}")
        return raw

    def schema(self) -> dict[str, Any]:
        kind = {"date": "string"}.get(self.kind, self.kind)
        schema: dict[str, Any] = {"type": kind}
        if self.kind == "date":
            schema["format"] = "date-time or date"
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.default is not None:
            schema["default"] = self.default
        if self.name == "size":
            schema.update(minimum=0, maximum=MAX_SIZE)
        return {"name": self.name, "in": "query", "required": False, "description": self.description, "schema": schema}


SEARCH_PARAMS = (
    Param("q", "text", "string", 'Words that must all match (title, text, claims); "a phrase"; -word excludes.'),
    Param("entity", "entity", "string", "A person, organisation or place: name or Wikidata id (e.g. Q7184)."),
    Param("speaker", "speaker", "string", "Stories with a claim by this speaker: name or Wikidata id."),
    Param("outlet", "outlet", "string", "Outlet name, exact (case-insensitive)."),
    Param("language", "language", "string", "ISO 639-1 language code."),
    Param("min_topic", "min_topic", "number", "Topic relevance at least this (0 to 1)."),
    Param("cluster", "cluster", "string", "Only the copies of this dedupe cluster."),
    Param("from", "date_from", "date", "Published on or after (a bare date covers its day)."),
    Param("to", "date_to", "date", "Published on or before (a bare date covers its day)."),
    Param("sort", "sort", "string", "Best first or newest first.", ("relevance", "newest"), "relevance"),
    Param("size", "size", "integer", "Results per page.", default=10),
    Param("offset", "offset", "integer", "Results to skip.", default=0),
    Param("all_copies", "collapse", "boolean", "Every outlet's copy instead of one result per story.", default=False),
    Param("facets", "facets", "boolean", "Top entities, speakers and outlets, and stories per day.", default=False),
)
CLAIM_PARAMS = (
    Param("speaker", "speaker", "string", "The speaker: name or Wikidata id."),
    Param("about", "about", "string", "Words that must all be in the claim."),
    Param("from", "date_from", "date", "Stories published on or after."),
    Param("to", "date_to", "date", "Stories published on or before."),
    Param("size", "size", "integer", "Distinct claims to return.", default=20),
)


def parse(params: tuple[Param, ...], query: Mapping[str, list[str]]) -> dict[str, Any]:
    known = {p.name for p in params}
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for p in params:
        if p.name in query and query[p.name][-1] != "":
            values[p.field] = p.parse(query[p.name][-1])
    if "collapse" in values:
        values["collapse"] = not values["collapse"]  # all_copies=true means no collapsing
    return values


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API."""
    error_schema = {"$ref": "#/components/schemas/Error"}
    error = {"description": "Bad request", "content": {"application/json": {"schema": error_schema}}}
    source = {
        "type": "object",
        "properties": {
            k: {"type": t}
            for k, t in (
                ("story_id", "string"),
                ("outlet", "string"),
                ("url", "string"),
                ("published", ["string", "null"]),
                ("match", "string"),
                ("similarity", "number"),
            )
        },
    }
    claim = {
        "type": "object",
        "properties": {
            k: {"type": t}
            for k, t in (
                ("speaker", "string"),
                ("speaker_id", ["string", "null"]),
                ("cue", "string"),
                ("kind", "string"),
                ("text", "string"),
            )
        },
    }
    facet = {"type": "object", "properties": {"value": {"type": "string"}, "count": {"type": "integer"}}}
    hit = {
        "type": "object",
        "properties": {
            **{
                k: {"type": t}
                for k, t in (
                    ("story_id", "string"),
                    ("title", "string"),
                    ("outlet", "string"),
                    ("url", "string"),
                    ("published", ["string", "null"]),
                    ("snippet", "string"),
                    ("score", ["number", "null"]),
                    ("cluster_id", ["string", "null"]),
                    ("topic_score", "number"),
                    ("wire", "string"),
                    ("language", "string"),
                )
            },
            "sources": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}},
            "claims": {"type": "array", "items": {"$ref": "#/components/schemas/Claim"}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wirewatch",
            "version": "1",
            "description": "Read-only search over the stories, entities and claims wirewatch indexed; "
            "watches push new matches (Atom, server-sent events, webhooks).",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Search stories (one result per dedupe cluster unless all_copies)",
                    "operationId": "searchStories",
                    "parameters": [p.schema() for p in SEARCH_PARAMS],
                    "responses": {
                        "200": {
                            "description": "Matching stories",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResult"}}},
                        },
                        "400": error,
                    },
                }
            },
            "/api/claims": {
                "get": {
                    "summary": "Claims by a speaker about something: first made when, repeated how often",
                    "operationId": "searchClaims",
                    "parameters": [p.schema() for p in CLAIM_PARAMS],
                    "responses": {
                        "200": {
                            "description": "Distinct claims",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClaimResult"}}},
                        },
                        "400": error,
                    },
                }
            },
            "/api/stories/{story_id}": {
                "get": {
                    "summary": "One story: text, entities, claims, cluster with its copies and changes",
                    "operationId": "getStory",
                    "parameters": [
                        {
                            "name": "story_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The story document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "404": {
                            "description": "No such story",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        },
                    },
                }
            },
            "/api/watches": {
                "get": {
                    "summary": "Saved searches (watches); POST one with a bearer token when write mode is on",
                    "operationId": "listWatches",
                    "responses": {"200": {"description": "Watches, secrets masked",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}},
                },
                "post": {
                    "summary": "Create a watch (only with WIREWATCH_API_WRITE=on and Authorization: Bearer)",
                    "operationId": "createWatch",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string", "pattern": f"^{WATCH_NAME}$"},
                            "kind": {"type": "string", "enum": ["stories", "claims"]},
                            "query": {"type": "object"},
                            "webhook_url": {"type": "string"},
                            "secret": {"type": "string", "minLength": 16}}}}}},
                    "responses": {"201": {"description": "Created"}, "400": error,
                                  "401": {"description": "No or wrong bearer token"},
                                  "405": {"description": "Write mode is off"},
                                  "409": {"description": "A watch of that name exists"}},
                },
            },
            "/api/watches/{name}": {
                "get": {
                    "summary": "One watch and its recent events",
                    "operationId": "getWatch",
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The watch",
                                          "content": {"application/json": {"schema": {"type": "object"}}}},
                                  "404": {"description": "No such watch"}},
                },
                "delete": {
                    "summary": "Remove a watch (write mode and bearer token)",
                    "operationId": "deleteWatch",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Removed"}, "401": {"description": "No or wrong token"},
                                  "404": {"description": "No such watch"}, "405": {"description": "Write mode is off"}},
                },
            },
            "/api/watches/{name}/events": {
                "get": {
                    "summary": "Server-sent events: each new match of the watch (resumes after Last-Event-ID)",
                    "operationId": "watchEvents",
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "An event stream",
                                          "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
                },
            },
            "/watch/{name}.atom": {
                "get": {
                    "summary": "The watch's events as an Atom feed",
                    "operationId": "watchFeed",
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "Atom 1.0",
                                          "content": {"application/atom+xml": {"schema": {"type": "string"}}}}},
                },
            },
            "/api/health": {
                "get": {
                    "summary": "Liveness and document count",
                    "operationId": "health",
                    "responses": {
                        "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "Source": source,
                "Claim": claim,
                "Facet": facet,
                "SearchHit": hit,
                "SearchResult": {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "hits": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}},
                        "facets": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Facet"}},
                        },
                        "histogram": {"type": "array", "items": {"$ref": "#/components/schemas/Facet"}},
                    },
                    "required": ["total", "hits"],
                },
                "ClaimResult": {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "hits": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    **{
                                        k: {"type": t}
                                        for k, t in (
                                            ("key", "string"),
                                            ("speaker", "string"),
                                            ("speaker_id", ["string", "null"]),
                                            ("cue", "string"),
                                            ("kind", "string"),
                                            ("text", "string"),
                                            ("first_story_id", "string"),
                                            ("first_title", "string"),
                                            ("first_outlet", "string"),
                                            ("first_published", ["string", "null"]),
                                            ("stories", "integer"),
                                            ("outlets", "integer"),
                                        )
                                    }
                                },
                            },
                        },
                    },
                    "required": ["total", "hits"],
                },
            }
        },
    }


class WatchApi:
    """The watches side of the API: read them, their Atom feeds and live events; write only if enabled."""

    def __init__(self, store: Any, events: Any, public_url: str, write_token: str = "") -> None:
        self.store = store
        self.events = events
        self.public_url = public_url.rstrip("/")
        self.write_token = write_token  # empty: the API stays read-only

    def list(self, _query: Mapping[str, list[str]]) -> dict[str, Any]:
        return {"watches": [self._public(w) for w in self.store.all()]}

    def show(self, _query: Mapping[str, list[str]], name: str) -> tuple[int, dict[str, Any]]:
        watch = self.store.get(name)
        if watch is None:
            return 404, {"error": f"no watch {name}"}
        recent = self.events.latest(name, 20)
        return 200, {**self._public(watch), "recent": [{**r.event.to_json(), "seq": r.seq} for r in recent]}

    def _public(self, watch: Any) -> dict[str, Any]:
        return {**watch.public(), "feed": f"{self.public_url}/watch/{watch.name}.atom",
                "events": self.events.last_seq(watch.name)}

    def atom(self, name: str) -> bytes | None:
        from pipeline.watch import atom_feed

        watch = self.store.get(name)
        if watch is None:
            return None
        return atom_feed(watch, [r.event for r in self.events.latest(name, 50)], self.public_url, time.time())

    def authorised(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return bool(self.write_token) and scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.write_token.encode()
        )

    def create(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        import secrets
        from datetime import UTC, datetime

        from pipeline.watch import WatchError, make_watch

        unknown = sorted(set(body) - {"name", "kind", "query", "webhook_url", "secret"})
        if unknown:
            return 400, {"error": f"unknown field(s): {', '.join(unknown)}"}
        if not isinstance(body.get("query", {}), dict):
            return 400, {"error": "query must be an object"}
        webhook = str(body.get("webhook_url") or "")
        secret = str(body.get("secret") or (secrets.token_urlsafe(24) if webhook else ""))
        try:
            watch = make_watch(str(body.get("name", "")), str(body.get("kind", "stories")), body.get("query") or {},
                               webhook, secret, datetime.now(UTC).isoformat(timespec="seconds"))
        except WatchError as exc:
            return 400, {"error": str(exc)}
        if not self.store.add(watch):
            return 409, {"error": f"a watch named {watch.name} exists"}
        out = self._public(watch)
        if webhook and not body.get("secret"):
            out["secret"] = secret  # generated: shown once
        return 201, out

    def delete(self, name: str) -> tuple[int, dict[str, Any]]:
        if not self.store.remove(name):
            return 404, {"error": f"no watch {name}"}
        return 200, {"removed": name}


class Api:
    """Routes to JSON answers; no state of its own beyond the index it reads."""

    def __init__(self, index: StoryIndex, watches: WatchApi | None = None) -> None:
        self.index = index
        self.watches = watches
        self.routes: list[tuple[re.Pattern[str], Callable[..., Any]]] = [
            (re.compile(r"/api/search"), self.search),
            (re.compile(r"/api/claims"), self.claims),
            (re.compile(r"/api/stories/(?P<story_id>[0-9a-f]{32})"), self.story),
            (re.compile(r"/api/stories/(?P<story_id>.*)"), self.not_a_story_id),
            (re.compile(r"/api/openapi\.json"), lambda _q: openapi()),
            (re.compile(r"/api/health"), lambda _q: {"status": "ok", "stories": self.index.count()}),
        ]
        if watches is not None:
            self.routes += [
                (re.compile(r"/api/watches"), watches.list),
                (re.compile(rf"/api/watches/(?P<name>{WATCH_NAME})"), watches.show),
            ]

    def search(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        return self.index.search(SearchQuery(**parse(SEARCH_PARAMS, query))).to_json()

    def claims(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        return self.index.search_claims(ClaimQuery(**parse(CLAIM_PARAMS, query))).to_json()

    def story(self, query: Mapping[str, list[str]], story_id: str) -> tuple[int, dict[str, Any]]:
        doc = self.index.get(story_id)
        if doc is None:
            return 404, {"error": f"no story {story_id}"}
        doc.pop("raw_key", None)
        copies = self.index.search(SearchQuery(cluster=doc["cluster"]["id"], collapse=False, size=MAX_SIZE))
        doc["copies"] = [
            {"story_id": h.story_id, "outlet": h.outlet, "url": h.url, "published": h.published} for h in copies.hits
        ]
        return 200, doc

    @staticmethod
    def not_a_story_id(query: Mapping[str, list[str]], story_id: str) -> tuple[int, dict[str, Any]]:
        shown = story_id[:80]
        return 404, {
            "error": f"no story {shown!r}: a story id is 32 hex digits, as in the story_id of /api/search results"
        }

    def handle(self, path: str, raw_query: str) -> tuple[int, dict[str, Any]]:
        query = parse_qs(raw_query, keep_blank_values=True)
        for pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            try:
                result = handler(query, **m.groupdict())
            except BadRequest as exc:
                return 400, {"error": str(exc)}
            except StageError as exc:
                log.warning("index unavailable: %s", exc)
                return 503, {"error": f"the index is unavailable: {exc}"}
            if isinstance(result, tuple):
                status, body = result
                return status, body
            return 200, result
        return 404, {
            "error": f"no such page {path[:200]!r}; the API is /api/search, /api/claims, /api/stories/ID, "
            f"/api/health and /api/openapi.json"
        }


def make_server(api: Api, host: str, port: int, metrics: Callable[[], bytes] | None = None) -> ThreadingHTTPServer:
    """A threaded HTTP server answering GET and HEAD; POST/DELETE of watches only in write mode, with the
    token. ``metrics``: what /metrics answers."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "wirewatch"

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            if parts.path == "/metrics" and metrics is not None:
                try:
                    self._send(200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
                except Exception:  # noqa: BLE001 - a broken scrape is a 500 and a log line
                    log.exception("error collecting metrics")
                    self._send(500, b"error collecting metrics\n", "text/plain; charset=utf-8")
                return
            if api.watches is not None and self._watch_get(api.watches, parts.path, parts.query):
                return
            if parts.path in ("/", "/index.html"):
                page = WEB / "index.html"
                if page.exists():
                    self._send(200, page.read_bytes(), "text/html; charset=utf-8")
                    return
            try:
                status, body = api.handle(parts.path, parts.query)
            except Exception:  # noqa: BLE001 - a bug answers 500 and is logged; the server goes on
                log.exception("error answering %s", self.path)
                status, body = 500, {"error": "internal error"}
            self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        do_HEAD = do_GET  # noqa: N815

        def _refuse(self) -> None:
            self._send(405, b'{"error": "the API is read-only"}', "application/json")

        do_PUT = do_PATCH = _refuse  # noqa: N815

        def _json(self, status: int, body: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        def _watch_get(self, watches: WatchApi, path: str, query: str) -> bool:
            """Atom feeds and live events; False for any other path."""
            m = re.fullmatch(rf"/watch/(?P<name>{WATCH_NAME})\.atom", path)
            if m:
                feed = watches.atom(m["name"])
                if feed is None:
                    self._json(404, {"error": f"no watch {m['name']}"})
                else:
                    self._send(200, feed, "application/atom+xml; charset=utf-8")
                return True
            m = re.fullmatch(rf"/api/watches/(?P<name>{WATCH_NAME})/events", path)
            if m:
                self._stream(watches, m["name"], parse_qs(query))
                return True
            return False

        def _stream(self, watches: WatchApi, name: str, query: Mapping[str, list[str]]) -> None:
            """Server-sent events: each new event of a watch, resuming after Last-Event-ID."""
            if watches.store.get(name) is None:
                self._json(404, {"error": f"no watch {name}"})
                return
            last = self.headers.get("Last-Event-ID") or (query.get("since") or ["$"])[-1]
            if not re.fullmatch(r"\$|0|\d+-\d+", last):
                self._json(400, {"error": "Last-Event-ID must be a stream id"})
                return
            if last == "$":  # "from now": pin the current end, so nothing recorded meanwhile is missed
                newest = watches.events.latest(name, 1)
                last = newest[0].stream_id if newest else "0"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command == "HEAD":
                return
            deadline = time.monotonic() + SSE_MAX_S  # the browser reconnects, with Last-Event-ID
            try:
                self.wfile.write(b"retry: 2000\n: following " + name.encode() + b"\n\n")
                self.wfile.flush()
                while time.monotonic() < deadline:
                    recs = watches.events.after(name, last, count=50, block_ms=SSE_BLOCK_MS)
                    for rec in recs:
                        data = json.dumps({**rec.event.to_json(), "seq": rec.seq}, ensure_ascii=False)
                        self.wfile.write(f"id: {rec.stream_id}\nevent: match\ndata: {data}\n\n".encode())
                        last = rec.stream_id
                    if not recs:
                        self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            except Exception:  # noqa: BLE001 - Redis gone: the client reconnects later
                log.warning("event stream of watch %s ended", name, exc_info=True)
            self.close_connection = True

        def _authorised_write(self) -> WatchApi | None:
            watches = api.watches
            if watches is None or not watches.write_token:
                self._refuse()
                return None
            if not watches.authorised(self.headers.get("Authorization", "")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer realm="wirewatch"')
                body = b'{"error": "a bearer token is required to change watches"}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            return watches

        def do_POST(self) -> None:  # noqa: N802
            watches = self._authorised_write()
            if watches is None:
                return
            if urlsplit(self.path).path != "/api/watches":
                self._json(404, {"error": "POST goes to /api/watches"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._json(400, {"error": f"a JSON body of at most {MAX_BODY} bytes is required"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as exc:
                self._json(400, {"error": f"the body is not JSON: {exc}"})
                return
            if not isinstance(body, dict):
                self._json(400, {"error": "the body must be a JSON object"})
                return
            self._json(*watches.create(body))

        def do_DELETE(self) -> None:  # noqa: N802
            watches = self._authorised_write()
            if watches is None:
                return
            m = re.fullmatch(rf"/api/watches/(?P<name>{WATCH_NAME})", urlsplit(self.path).path)
            if m is None:
                self._json(404, {"error": "DELETE /api/watches/NAME"})
                return
            self._json(*watches.delete(m["name"]))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)
