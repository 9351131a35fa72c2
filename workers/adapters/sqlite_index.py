"""The embedded story index: SQLite FTS5 in one file, shared by every worker process on the machine."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import PermanentError
from pipeline.index import FACET_SIZE, MARK_POST, MARK_PRE, claim_views, date_bound, plain_snippet, tidy_snippet
from pipeline.models import (
    ClaimHit,
    ClaimQuery,
    ClaimResult,
    FacetValue,
    SearchHit,
    SearchQuery,
    SearchResult,
    Source,
)

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    rowid INTEGER PRIMARY KEY,
    story_id TEXT UNIQUE NOT NULL,
    cluster_id TEXT NOT NULL,
    outlet TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    language TEXT NOT NULL DEFAULT '',
    topic_score REAL NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_cluster ON stories(cluster_id);
CREATE INDEX IF NOT EXISTS stories_published ON stories(published);
CREATE INDEX IF NOT EXISTS stories_outlet ON stories(outlet COLLATE NOCASE);
-- kind: person, org, place, id, speaker, speaker_id. value as shown, folded for matching
-- (no semicolons in comments: migrate splits the schema on them)
CREATE TABLE IF NOT EXISTS story_terms (
    story_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    folded TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS story_terms_folded ON story_terms(folded, story_id);
CREATE INDEX IF NOT EXISTS story_terms_story ON story_terms(story_id);
CREATE TABLE IF NOT EXISTS claims (
    rowid INTEGER PRIMARY KEY,
    story_id TEXT NOT NULL,
    key TEXT NOT NULL,
    speaker TEXT NOT NULL,
    speaker_id TEXT,
    cue TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_story ON claims(story_id);
CREATE INDEX IF NOT EXISTS claims_key ON claims(key);
CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(title, summary, text, claims, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS claims_fts USING fts5(text, tokenize = 'unicode61');
"""
# Private-use characters mark highlights inside SQLite, then become <mark> after HTML escaping.
_PRE, _POST = "\ue000", "\ue001"
_TOKEN = re.compile(r'(-?)"([^"]+)"|(-?)(\S+)')
TERM_KINDS = {"person": "person", "org": "org", "place": "place", "ids": "id"}


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
        db = self._db()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'stories'").fetchone()
        if exists and version != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self._path} has index schema {version}, this wirewatch needs "
                f"{SCHEMA_VERSION}: rebuild it with `wirewatch reprocess --rebuild`, or delete the file"
            )
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def status(self) -> dict[str, Any]:
        db = self._db()
        rows = db.execute("SELECT json_extract(doc, '$.pipeline_version'), COUNT(*) FROM stories GROUP BY 1")
        return {
            "backend": "embedded",
            "path": str(self._path),
            "schema": SCHEMA_VERSION,
            "documents": self.count(),
            "pipeline_versions": {str(k): n for k, n in rows},
        }

    def migrate(self, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Rebuild the tables in the current schema from the stored documents, in one transaction
        (``on_progress(done, total)`` before and after: one transaction has no steps to show)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'stories'").fetchone()
            docs = [json.loads(r[0]) for r in db.execute("SELECT doc FROM stories")] if exists else []
            if on_progress is not None:
                on_progress(0, len(docs))
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table') "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%fts_%'"
            ).fetchall():
                db.execute(f'DROP TABLE IF EXISTS "{name}"')
            for statement in SCHEMA.split(";"):  # not executescript: it would commit half-way
                if statement.strip():
                    db.execute(statement)
            failed = self._write_each(db, docs)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
            if on_progress is not None:
                on_progress(len(docs), len(docs))
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return {"schema": SCHEMA_VERSION, "copied": len(docs) - len(failed), "failed": failed}

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- writes -------------------------------------------------------------------------------

    def put(self, doc: Mapping[str, Any]) -> None:
        errors = self.put_many([doc])
        if errors:
            raise PermanentError(next(iter(errors.values())))

    def put_many(self, docs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Write in one transaction; a document that fails is rolled back alone and reported."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            failed = self._write_each(db, docs)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return failed

    def _write_each(self, db: sqlite3.Connection, docs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Write documents inside the open transaction; one that fails is rolled back alone and reported."""
        failed: dict[str, str] = {}
        for doc in docs:
            db.execute("SAVEPOINT one")
            try:
                self._write(db, doc)
                db.execute("RELEASE one")
            except (KeyError, TypeError, ValueError, sqlite3.IntegrityError) as exc:
                db.execute("ROLLBACK TO one")
                db.execute("RELEASE one")
                failed[str(doc.get("story_id"))] = f"{type(exc).__name__}: {exc}"
        return failed

    def delete(self, story_ids: Iterable[str]) -> set[str]:
        """Remove stories with their terms, claims and full-text rows, in one transaction."""
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return set()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = {sid for sid in ids if self._remove(db, sid, keep_row=False)}
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return removed

    @staticmethod
    def _remove(db: sqlite3.Connection, sid: str, keep_row: bool) -> bool:
        """Take a story's derived rows out (and its row unless ``keep_row``); False if it was not there."""
        old = db.execute("SELECT rowid FROM stories WHERE story_id = ?", (sid,)).fetchone()
        if old is None:
            return False
        db.execute("DELETE FROM stories_fts WHERE rowid = ?", (old[0],))
        db.execute("DELETE FROM story_terms WHERE story_id = ?", (sid,))
        for (claim_rowid,) in db.execute("SELECT rowid FROM claims WHERE story_id = ?", (sid,)).fetchall():
            db.execute("DELETE FROM claims_fts WHERE rowid = ?", (claim_rowid,))
        db.execute("DELETE FROM claims WHERE story_id = ?", (sid,))
        if not keep_row:
            db.execute("DELETE FROM stories WHERE rowid = ?", (old[0],))
        return True

    @classmethod
    def _write(cls, db: sqlite3.Connection, doc: Mapping[str, Any]) -> None:
        sid = doc["story_id"]
        cls._remove(db, sid, keep_row=True)  # an update keeps the row (its rowid) and replaces the rest
        cur = db.execute(
            "INSERT INTO stories (story_id, cluster_id, outlet, url, title, published, language, topic_score, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(story_id) DO UPDATE SET "
            "cluster_id=excluded.cluster_id, outlet=excluded.outlet, url=excluded.url, title=excluded.title, "
            "published=excluded.published, language=excluded.language, topic_score=excluded.topic_score, "
            "doc=excluded.doc RETURNING rowid",
            (
                sid,
                doc["cluster"]["id"],
                doc["outlet"],
                doc["url"],
                doc["title"],
                doc.get("published"),
                doc.get("language", ""),
                float(doc.get("topic", {}).get("score", 0.0)),
                json.dumps(doc),
            ),
        )
        rowid = cur.fetchone()[0]
        claims = doc.get("claims", [])
        db.execute(
            "INSERT INTO stories_fts (rowid, title, summary, text, claims) VALUES (?, ?, ?, ?, ?)",
            (rowid, doc["title"], doc.get("summary", ""), doc["text"], "\n".join(c["text"] for c in claims)),
        )
        terms = {(kind, v) for key, kind in TERM_KINDS.items() for v in doc.get("entities", {}).get(key, [])}
        terms |= {("speaker", c["speaker"]) for c in claims} | {
            ("speaker_id", c["speaker_id"]) for c in claims if c.get("speaker_id")
        }
        db.executemany(
            "INSERT INTO story_terms (story_id, kind, value, folded) VALUES (?, ?, ?, ?)",
            [(sid, kind, v, v.casefold()) for kind, v in sorted(terms)],
        )
        for c in claims:
            cur = db.execute(
                "INSERT INTO claims (story_id, key, speaker, speaker_id, cue, kind, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, c["key"], c["speaker"], c.get("speaker_id"), c["cue"], c["kind"], c["text"]),
            )
            db.execute("INSERT INTO claims_fts (rowid, text) VALUES (?, ?)", (cur.lastrowid, c["text"]))

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

    @staticmethod
    def _where(query: SearchQuery, match: str | None) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if match:
            where.append("stories_fts MATCH ?")
            params.append(match)
        for value, kinds in (
            (query.entity, ("person", "org", "place", "id")),
            (query.speaker, ("speaker", "speaker_id")),
        ):
            if value:
                where.append(
                    f"s.story_id IN (SELECT story_id FROM story_terms WHERE folded = ? "
                    f"AND kind IN ({','.join('?' * len(kinds))}))"
                )
                params += [value.casefold(), *kinds]
        if query.outlet:
            where.append("s.outlet = ? COLLATE NOCASE")
            params.append(query.outlet)
        if query.language:
            where.append("s.language = ? COLLATE NOCASE")
            params.append(query.language)
        if query.min_topic is not None:
            where.append("s.topic_score >= ?")
            params.append(query.min_topic)
        if query.cluster:
            where.append("s.cluster_id = ?")
            params.append(query.cluster)
        if query.feed:
            where.append("json_extract(s.doc, '$.feed_url') = ?")
            params.append(query.feed)
        if query.ids:
            where.append(f"s.story_id IN ({','.join('?' * len(query.ids))})")
            params += list(query.ids)
        if query.date_from:
            where.append("s.published >= ?")
            params.append(date_bound(query.date_from, end=False))
        if query.date_to:
            where.append("s.published <= ?")
            params.append(date_bound(query.date_to, end=True))
        return ("WHERE " + " AND ".join(where)) if where else "", params

    def search(self, query: SearchQuery) -> SearchResult:
        db = self._db()
        match = fts_query(query.text) if query.text.strip() else None
        if query.text.strip() and match is None:
            return SearchResult(total=0)
        source = "stories_fts f JOIN stories s ON s.rowid = f.rowid" if match else "stories s"
        # Relevance weighs the topic: bm25 (negative, lower is better) times (1 + topic score), as on Elasticsearch.
        rank = "bm25(stories_fts, 3.0, 2.0, 1.0, 1.0) * (1.0 + s.topic_score)" if match else "0.0"
        where, params = self._where(query, match)
        if query.sort == "newest":
            order = "s.published IS NULL, s.published DESC, rank"
        elif match:
            order = "rank, s.published DESC"
        else:
            order = "s.topic_score DESC, s.published IS NULL, s.published DESC"
        rows = db.execute(
            f"SELECT s.rowid, s.story_id, s.cluster_id, s.outlet, s.url, s.title, s.published, s.topic_score, "
            f"{rank} AS rank, s.doc FROM {source} {where} ORDER BY {order}",
            params,
        ).fetchall()
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
        for row in ordered[query.offset : query.offset + query.size]:
            rowid, sid, cluster, outlet, url, title, published, topic, rank_value, raw = row
            doc = json.loads(raw)
            sources: tuple[Source, ...] = ()
            if query.collapse:
                members = sorted(groups[cluster], key=lambda r: (r[6] is None, r[6] or ""))
                sources = tuple(self._source(r) for r in members)
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
                    wire=doc["cluster"].get("wire", ""),
                    language=doc.get("language", ""),
                    claims=claim_views(doc.get("claims")),
                )
            )
        facets: dict[str, tuple[FacetValue, ...]] = {}
        histogram: tuple[FacetValue, ...] = ()
        if query.facets:
            facets, histogram = self._facets(db, [(r[1], r[2] if query.collapse else r[1]) for r in rows])
        return SearchResult(total=len(ordered), hits=tuple(hits), facets=facets, histogram=histogram)

    def select_page(self, query: SearchQuery, after: str | None, size: int) -> list[dict[str, Any]]:
        """Whole documents matching the query, in story id order after ``after`` (resumable paging)."""
        match = fts_query(query.text) if query.text.strip() else None
        if query.text.strip() and match is None:
            return []
        source = "stories_fts f JOIN stories s ON s.rowid = f.rowid" if match else "stories s"
        where, params = self._where(query, match)
        if after is not None:
            where = f"{where} AND s.story_id > ?" if where else "WHERE s.story_id > ?"
            params.append(after)
        rows = (
            self._db()
            .execute(f"SELECT s.doc FROM {source} {where} ORDER BY s.story_id LIMIT ?", [*params, size])
            .fetchall()
        )
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def _source(row: tuple[Any, ...]) -> Source:
        cluster = json.loads(row[9])["cluster"]
        return Source(
            row[1], row[3], row[4], row[6], cluster.get("match", "new"), float(cluster.get("similarity", 1.0))
        )

    @staticmethod
    def _facets(
        db: sqlite3.Connection, matched: list[tuple[str, str]]
    ) -> tuple[dict[str, tuple[FacetValue, ...]], tuple[FacetValue, ...]]:
        """Facets and stories per day over (story id, unit) pairs: the unit is the cluster when copies are
        collapsed, so every count is in the same stories as the total; a story counts on its first day."""
        db.execute("CREATE TEMP TABLE IF NOT EXISTS matched (story_id TEXT PRIMARY KEY, unit TEXT NOT NULL)")
        db.execute("DELETE FROM matched")
        db.executemany("INSERT OR IGNORE INTO matched VALUES (?, ?)", matched)
        facets: dict[str, tuple[FacetValue, ...]] = {}
        for name in ("person", "org", "place", "speaker"):
            rows = db.execute(
                "SELECT t.value, COUNT(DISTINCT m.unit) AS n FROM story_terms t JOIN matched m "
                "ON m.story_id = t.story_id WHERE t.kind = ? GROUP BY t.value ORDER BY n DESC, t.value LIMIT ?",
                (name, FACET_SIZE),
            ).fetchall()
            facets[name] = tuple(FacetValue(v, n) for v, n in rows)
        rows = db.execute(
            "SELECT s.outlet, COUNT(DISTINCT m.unit) AS n FROM stories s JOIN matched m ON m.story_id = s.story_id "
            "GROUP BY s.outlet ORDER BY n DESC, s.outlet LIMIT ?",
            (FACET_SIZE,),
        ).fetchall()
        facets["outlet"] = tuple(FacetValue(v, n) for v, n in rows)
        rows = db.execute(
            "SELECT day, COUNT(*) FROM (SELECT m.unit, substr(MIN(s.published), 1, 10) AS day FROM stories s "
            "JOIN matched m ON m.story_id = s.story_id WHERE s.published IS NOT NULL GROUP BY m.unit) "
            "GROUP BY day ORDER BY day"
        ).fetchall()
        return facets, tuple(FacetValue(d, n) for d, n in rows)

    @staticmethod
    def _snippet(db: sqlite3.Connection, rowid: int, match: str | None) -> str:
        if match:
            row = db.execute(
                f"SELECT snippet(stories_fts, 2, '{_PRE}', '{_POST}', '…', 32) FROM stories_fts "
                "WHERE stories_fts MATCH ? AND rowid = ?",
                (match, rowid),
            ).fetchone()
            if row and _PRE in row[0]:
                # Plain text: a literal <mark> in a story must not pass for a highlight.
                plain = row[0].replace(MARK_PRE, "").replace(MARK_POST, "")
                return tidy_snippet(plain.replace(_PRE, MARK_PRE).replace(_POST, MARK_POST), whole_text=True)
        text = db.execute("SELECT text FROM stories_fts WHERE rowid = ?", (rowid,)).fetchone()[0]
        return plain_snippet(text)

    def search_claims(self, query: ClaimQuery) -> ClaimResult:
        db = self._db()
        where: list[str] = []
        params: list[Any] = []
        if query.about.strip():
            match = fts_query(query.about)
            if match is None:
                return ClaimResult(total=0)
            where.append("c.rowid IN (SELECT rowid FROM claims_fts WHERE claims_fts MATCH ?)")
            params.append(match)
        if query.speaker:
            where.append("(lower(c.speaker) = ? OR lower(c.speaker_id) = ?)")
            params += [query.speaker.casefold()] * 2
        if query.date_from:
            where.append("s.published >= ?")
            params.append(date_bound(query.date_from, end=False))
        if query.date_to:
            where.append("s.published <= ?")
            params.append(date_bound(query.date_to, end=True))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = db.execute(
            "SELECT c.key, c.speaker, c.speaker_id, c.cue, c.kind, c.text, s.story_id, s.title, s.outlet, "
            f"s.published FROM claims c JOIN stories s ON s.story_id = c.story_id {clause} "
            "ORDER BY s.published IS NULL, s.published, s.rowid",
            params,
        ).fetchall()
        by_key: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_key.setdefault(row[0], []).append(row)
        hits = []
        for key, group in by_key.items():
            first = group[0]
            hits.append(
                ClaimHit(
                    key=key,
                    speaker=first[1],
                    speaker_id=first[2],
                    cue=first[3],
                    kind=first[4],
                    text=first[5],
                    first_story_id=first[6],
                    first_title=first[7],
                    first_outlet=first[8],
                    first_published=first[9],
                    stories=len({r[6] for r in group}),
                    outlets=len({r[8] for r in group}),
                )
            )
        hits.sort(key=lambda h: h.first_published or "", reverse=True)
        return ClaimResult(total=len(hits), hits=tuple(hits[: query.size]))
