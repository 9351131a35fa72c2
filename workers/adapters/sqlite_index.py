"""The embedded story index: SQLite FTS5 in one file, shared by every worker process on the machine."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.index import MARK_POST, MARK_PRE, date_bound, plain_snippet
from pipeline.models import SearchHit, SearchQuery, SearchResult, Source

SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    rowid INTEGER PRIMARY KEY,
    story_id TEXT UNIQUE NOT NULL,
    cluster_id TEXT NOT NULL,
    outlet TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    topic_score REAL NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_cluster ON stories(cluster_id);
CREATE INDEX IF NOT EXISTS stories_published ON stories(published);
CREATE INDEX IF NOT EXISTS stories_outlet ON stories(outlet COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS story_entities (
    story_id TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS story_entities_value ON story_entities(value, story_id);
CREATE INDEX IF NOT EXISTS story_entities_story ON story_entities(story_id);
CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(title, summary, text, tokenize = 'unicode61');
"""
# Private-use characters mark highlights inside SQLite, then become <mark> after HTML escaping.
_PRE, _POST = "\ue000", "\ue001"
_TOKEN = re.compile(r'(-?)"([^"]+)"|(-?)(\S+)')


def fts_query(text: str) -> str | None:
    """A user query as a safe FTS5 expression: words and "phrases" ANDed, -word excluded."""
    positive: list[str] = []
    negative: list[str] = []
    for neg_phrase, phrase, neg_word, word in _TOKEN.findall(text):
        term = phrase or word
        term = " ".join(re.findall(r"\w+", term, re.UNICODE))
        if not term:
            continue
        quoted = '"' + term.replace('"', '""') + '"'
        (negative if (neg_phrase or neg_word) else positive).append(quoted)
    if not positive:
        return None
    expr = " AND ".join(positive)
    for term in negative:
        expr = f"({expr}) NOT {term}"
    return expr


class SqliteIndex:
    """Implements ``StoryIndex`` with the same search contract as the Elasticsearch adapter."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def ensure_ready(self) -> None:
        self._db().executescript(SCHEMA)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- writes -------------------------------------------------------------------------------

    def put(self, doc: Mapping[str, Any]) -> None:
        self.put_many([doc])

    def put_many(self, docs: Iterable[Mapping[str, Any]]) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc in docs:
                self._write(db, doc)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _write(db: sqlite3.Connection, doc: Mapping[str, Any]) -> None:
        sid = doc["story_id"]
        old = db.execute("SELECT rowid FROM stories WHERE story_id = ?", (sid,)).fetchone()
        if old is not None:
            db.execute("DELETE FROM stories_fts WHERE rowid = ?", (old[0],))
            db.execute("DELETE FROM story_entities WHERE story_id = ?", (sid,))
        cur = db.execute(
            "INSERT INTO stories (story_id, cluster_id, outlet, url, title, published, topic_score, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(story_id) DO UPDATE SET "
            "cluster_id=excluded.cluster_id, outlet=excluded.outlet, url=excluded.url, title=excluded.title, "
            "published=excluded.published, topic_score=excluded.topic_score, doc=excluded.doc "
            "RETURNING rowid",
            (
                sid,
                doc["cluster"]["id"],
                doc["outlet"],
                doc["url"],
                doc["title"],
                doc.get("published"),
                float(doc.get("topic", {}).get("score", 0.0)),
                json.dumps(doc),
            ),
        )
        rowid = cur.fetchone()[0]
        db.execute(
            "INSERT INTO stories_fts (rowid, title, summary, text) VALUES (?, ?, ?, ?)",
            (rowid, doc["title"], doc.get("summary", ""), doc["text"]),
        )
        ents = doc.get("entities", {})
        values = {v.casefold() for key in ("person", "org", "place", "ids") for v in ents.get(key, [])}
        db.executemany(
            "INSERT INTO story_entities (story_id, value) VALUES (?, ?)", [(sid, v) for v in sorted(values)]
        )

    def refresh(self) -> None:
        """Writes are visible as soon as they commit."""

    # --- reads --------------------------------------------------------------------------------

    def get(self, story_id: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT doc FROM stories WHERE story_id = ?", (story_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def present(self, story_ids: Iterable[str]) -> set[str]:
        ids = list(story_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._db().execute(
                f"SELECT story_id FROM stories WHERE story_id IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update(r[0] for r in rows)
        return found

    def count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM stories").fetchone()[0])

    def search(self, query: SearchQuery) -> SearchResult:
        db = self._db()
        where: list[str] = []
        params: list[Any] = []
        match = fts_query(query.text) if query.text.strip() else None
        if query.text.strip() and match is None:
            return SearchResult(total=0)
        if match:
            source = "stories_fts f JOIN stories s ON s.rowid = f.rowid"
            where.append("stories_fts MATCH ?")
            params.append(match)
            rank = "bm25(stories_fts, 3.0, 2.0, 1.0)"
        else:
            source, rank = "stories s", "0.0"
        if query.entity:
            where.append("s.story_id IN (SELECT story_id FROM story_entities WHERE value = ?)")
            params.append(query.entity.casefold())
        if query.outlet:
            where.append("s.outlet = ? COLLATE NOCASE")
            params.append(query.outlet)
        if query.date_from:
            where.append("s.published >= ?")
            params.append(date_bound(query.date_from, end=False))
        if query.date_to:
            where.append("s.published <= ?")
            params.append(date_bound(query.date_to, end=True))
        order = (
            "rank, s.published DESC"
            if match and query.sort != "newest"
            else "s.published IS NULL, s.published DESC, rank"
        )
        sql = (
            f"SELECT s.rowid, s.story_id, s.cluster_id, s.outlet, s.url, s.title, s.published, "
            f"s.topic_score, {rank} AS rank FROM {source} "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order}"
        )
        rows = db.execute(sql, params).fetchall()
        # One hit per cluster (the best-ranked copy), with every matching copy as a source.
        groups: dict[str, list[tuple[Any, ...]]] = {}
        ordered: list[tuple[Any, ...]] = []
        for row in rows:
            key = row[2] if query.collapse else row[1]
            if key not in groups:
                groups[key] = []
                ordered.append(row)
            groups[key].append(row)
        hits = []
        for row in ordered[: query.size]:
            rowid, sid, cluster, outlet, url, title, published, topic, rank_value = row
            sources: tuple[Source, ...] = ()
            if query.collapse:
                members = sorted(groups[cluster], key=lambda r: (r[6] is None, r[6] or ""))
                sources = tuple(Source(r[1], r[3], r[4], r[6]) for r in members)
            hits.append(
                SearchHit(
                    story_id=sid,
                    title=title,
                    outlet=outlet,
                    url=url,
                    published=published,
                    snippet=self._snippet(db, rowid, match),
                    score=-float(rank_value) if match else None,
                    cluster_id=cluster,
                    sources=sources,
                    topic_score=float(topic),
                )
            )
        return SearchResult(total=len(ordered), hits=tuple(hits))

    @staticmethod
    def _snippet(db: sqlite3.Connection, rowid: int, match: str | None) -> str:
        if match:
            row = db.execute(
                f"SELECT snippet(stories_fts, 2, '{_PRE}', '{_POST}', '…', 32) FROM stories_fts "
                "WHERE stories_fts MATCH ? AND rowid = ?",
                (match, rowid),
            ).fetchone()
            if row and _PRE in row[0]:
                return html.escape(row[0]).replace(_PRE, MARK_PRE).replace(_POST, MARK_POST)
        text = db.execute("SELECT text FROM stories_fts WHERE rowid = ?", (rowid,)).fetchone()[0]
        return plain_snippet(text)
