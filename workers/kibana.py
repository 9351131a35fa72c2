"""Kibana: the shipped saved objects (data view, saved searches, visualizations, dashboard) and their import.

The objects live in ``config/kibana/saved_objects.ndjson``, written in the format Kibana 8.0 exports
(``migrationVersion`` 8.0.0 on every object), so every Kibana 8.x imports them and runs its own
migrations from there. The data view's title (and id) follow the configured index prefix, which is
the read alias.

The Kibana URL is *not* a ``WIREWATCH_*`` setting: ``Settings`` rejects unknown ``WIREWATCH_*``
names, and Kibana is optional. ``wirewatch kibana import`` reads ``--url`` or else ``KIBANA_URL``
(default http://localhost:5601), and ``--username``/``--password`` or else ``KIBANA_USERNAME`` /
``KIBANA_PASSWORD``. For a Kibana space, give the space's URL: ``http://host:5601/s/SPACE``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

DEFAULT_KIBANA_URL = "http://localhost:5601"
KIBANA_URL_ENV = "KIBANA_URL"
KIBANA_USERNAME_ENV = "KIBANA_USERNAME"
KIBANA_PASSWORD_ENV = "KIBANA_PASSWORD"
SAVED_OBJECTS_FILE = Path("kibana") / "saved_objects.ndjson"  # under the config folder
DATA_VIEW_TYPE = "index-pattern"  # Kibana still calls data views index patterns in saved objects

# How a field is used, as reported by ``field_uses``.
USE_TIME_FIELD = "time_field"  # a data view's time field
USE_COLUMN = "column"  # a saved search column (display only)
USE_SORT = "sort"  # a saved search sort field
USE_MATCH = "match"  # KQL ``field: value`` or a phrase filter
USE_EXISTS = "exists"  # KQL ``field:*`` or an exists filter
USE_RANGE = "range"  # KQL ``field >= x`` or a range filter
USE_TERMS = "terms"  # a terms aggregation
USE_DATE_HISTOGRAM = "date_histogram"  # a date histogram aggregation


class KibanaError(RuntimeError):
    """Kibana could not be reached or refused a request."""


class KibanaUnavailable(KibanaError):
    """Kibana did not report itself available in time, or refused our credentials."""


class KibanaImportError(KibanaError):
    """The saved objects import failed, in whole or in part."""


# --- the objects -----------------------------------------------------------------------------


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-blank line; a bad line is an error naming its number."""
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        objects.append(obj)
    return objects


def load_saved_objects(path: Path, index_prefix: str) -> list[dict[str, Any]]:
    """The saved objects in ``path``, with the data view pointed at the read alias ``index_prefix``.

    The data view's id becomes the prefix too, and every reference to it follows, so the id stays
    predictable. The searches, visualizations and dashboard keep their fixed ids: importing for a
    second prefix into the same Kibana space repoints them, so give each deployment its own space.
    """
    if not index_prefix or index_prefix != index_prefix.strip() or "," in index_prefix:
        raise ValueError(f"index prefix {index_prefix!r} cannot name a data view")
    objects = read_ndjson(path)
    data_views = [o for o in objects if o.get("type") == DATA_VIEW_TYPE]
    if len(data_views) != 1:
        raise ValueError(f"{path}: expected one data view ({DATA_VIEW_TYPE}), found {len(data_views)}")
    view = data_views[0]
    old_id = view["id"]
    view["id"] = index_prefix
    view["attributes"]["title"] = index_prefix
    if "name" in view["attributes"]:
        view["attributes"]["name"] = index_prefix
    for obj in objects:
        for ref in obj.get("references", []):
            if ref.get("type") == DATA_VIEW_TYPE and ref.get("id") == old_id:
                ref["id"] = index_prefix
    return objects


def to_ndjson(objects: Iterable[Mapping[str, Any]]) -> bytes:
    """The import file: one compact JSON object per line."""
    return "".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in objects).encode()


# --- which fields the objects use ------------------------------------------------------------

# A field name before an operator; quoted strings are blanked first so their colons do not count.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_FIELD_OP = re.compile(r"(?<![\w.@*-])(?P<field>[A-Za-z_@][\w.@*-]*)\s*(?P<op><=|>=|<|>|:)")
_RANGE_OPS = ("<", ">", "<=", ">=")


def kql_fields(query: str, prefix: str = "") -> dict[str, set[str]]:
    """Fields in a simple KQL query and how each is used (match, exists, range).

    Understands ``field: value``, ``field:*``, ``field >= x`` and nested groups
    ``parent:{ child: value }`` (reported as ``parent.child``), combined with and/or/not and
    parentheses. It is a field finder, not a KQL parser: enough to check saved objects against a mapping.
    """
    text = _QUOTED.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', query)
    found: dict[str, set[str]] = {}
    pos = 0
    while True:
        match = _FIELD_OP.search(text, pos)
        if match is None:
            return found
        name, op = prefix + match.group("field"), match.group("op")
        rest = text[match.end() :].lstrip()
        pos = match.end()
        if op in _RANGE_OPS:
            use = USE_RANGE
        elif rest.startswith("{"):
            start = text.index("{", match.end())
            end = _closing_brace(text, start)
            for field, uses in kql_fields(query[start + 1 : end], prefix=name + ".").items():
                found.setdefault(field, set()).update(uses)
            pos = end + 1
            continue
        elif re.match(r"\*(?:\s|\)|$)", rest):
            use = USE_EXISTS
        else:
            use = USE_MATCH
        found.setdefault(name, set()).add(use)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced braces in KQL: {text!r}")


def lucene_fields(query: str) -> dict[str, set[str]]:
    """Fields in a simple Lucene query string: ``field:value``, ``field:[a TO b]``, ``_exists_:field``."""
    text = _QUOTED.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', query)
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"(?<![\w.@*-])(?P<field>[A-Za-z_@][\w.@*-]*):(?P<value>\S*)", text):
        field, value = match.group("field"), match.group("value")
        if field == "_exists_":
            found.setdefault(value.rstrip(")"), set()).add(USE_EXISTS)
        elif value.startswith(("[", "{", ">", "<")):
            found.setdefault(field, set()).add(USE_RANGE)
        elif value == "*":
            found.setdefault(field, set()).add(USE_EXISTS)
        else:
            found.setdefault(field, set()).add(USE_MATCH)
    return found


def _sort_fields(sort: Any) -> list[str]:
    """Sort is ``[["field", "desc"], ...]``, or one legacy pair ``["field", "desc"]``."""
    if not sort:
        return []
    if isinstance(sort[0], str):
        return [sort[0]]
    return [str(pair[0]) for pair in sort if pair]


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


def _search_source_uses(source: Mapping[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    query = source.get("query") or {}
    text = query.get("query") if isinstance(query, Mapping) else None
    if isinstance(text, str) and text.strip():
        language = query.get("language", "kuery")
        found = kql_fields(text) if language == "kuery" else lucene_fields(text)
    for item in source.get("filter") or []:
        meta = item.get("meta") or {}
        key = meta.get("key")
        if key and not meta.get("disabled"):
            use = {"range": USE_RANGE, "exists": USE_EXISTS}.get(str(meta.get("type")), USE_MATCH)
            found.setdefault(str(key), set()).add(use)
    return found


def _add_use(uses: dict[str, set[str]], field: str, use: str) -> None:
    if field and not field.startswith("_"):
        uses.setdefault(field, set()).add(use)


def field_uses(objects: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """For each saved object id: the index fields it uses, each with how it is used.

    Uses are ``time_field``, ``column``, ``sort``, ``match``, ``exists``, ``range``, ``terms``,
    ``date_histogram``, or ``agg:<type>`` for other aggregations. Meta fields (``_score``,
    ``_source``) are left out: they are not in the mapping.
    """
    out: dict[str, dict[str, set[str]]] = {}
    for obj in objects:
        uses: dict[str, set[str]] = {}
        attrs = obj.get("attributes") or {}
        if attrs.get("timeFieldName"):
            _add_use(uses, str(attrs["timeFieldName"]), USE_TIME_FIELD)
        for column in attrs.get("columns") or []:
            _add_use(uses, str(column), USE_COLUMN)
        for sort_field in _sort_fields(attrs.get("sort")):
            _add_use(uses, sort_field, USE_SORT)
        source = _parsed((attrs.get("kibanaSavedObjectMeta") or {}).get("searchSourceJSON"))
        if isinstance(source, Mapping):
            for query_field, how in _search_source_uses(source).items():
                for use in how:
                    _add_use(uses, query_field, use)
        vis_state = _parsed(attrs.get("visState"))
        if isinstance(vis_state, Mapping):
            for agg in vis_state.get("aggs") or []:
                agg_field = (agg.get("params") or {}).get("field")
                if agg_field and agg.get("enabled", True):
                    kind = str(agg.get("type"))
                    use = kind if kind in (USE_TERMS, USE_DATE_HISTOGRAM) else f"agg:{kind}"
                    _add_use(uses, str(agg_field), use)
        out[str(obj["id"])] = uses
    return out


def fields_used(objects: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """For each saved object id, the index field names it uses."""
    return {oid: set(uses) for oid, uses in field_uses(objects).items()}


# --- talking to Kibana -----------------------------------------------------------------------


def _auth(username: str, password: str) -> httpx.BasicAuth | None:
    return httpx.BasicAuth(username, password) if username else None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    """Kibana's own words: ``{"statusCode": 400, "error": "Bad Request", "message": "..."}``."""
    body = _json_or_none(response)
    if isinstance(body, Mapping) and (body.get("message") or body.get("error")):
        return ": ".join(str(body[k]) for k in ("error", "message") if body.get(k))
    return response.text[:1000] or response.reason_phrase


def _describe_import_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for item in errors:
        error = item.get("error") or {}
        what = f"{item.get('type')} {item.get('id')!r}"
        title = (item.get("meta") or {}).get("title") or item.get("title")
        if title:
            what += f" ({title})"
        detail = str(error.get("type", "error"))
        if error.get("references"):
            missing = ", ".join(f"{r.get('type')} {r.get('id')!r}" for r in error["references"])
            detail += f": {missing}"
        if error.get("message"):
            detail += f": {error['message']}"
        parts.append(f"{what}: {detail}")
    return "; ".join(parts) or "no details given"


def import_saved_objects(
    kibana_url: str,
    objects: Iterable[Mapping[str, Any]],
    username: str = "",
    password: str = "",
    overwrite: bool = True,
    timeout_s: float = 30,
) -> dict[str, Any]:
    """POST the objects to Kibana's saved objects import API; Kibana's answer, or KibanaImportError."""
    objects = list(objects)
    url = f"{kibana_url.rstrip('/')}/api/saved_objects/_import"
    params = {"overwrite": "true"} if overwrite else {}
    files = {"file": ("wirewatch.ndjson", to_ndjson(objects), "application/ndjson")}
    try:
        with httpx.Client(timeout=timeout_s, auth=_auth(username, password)) as client:
            response = client.post(url, params=params, files=files, headers={"kbn-xsrf": "true"})
    except httpx.HTTPError as exc:
        raise KibanaImportError(f"could not reach Kibana at {kibana_url}: {exc}") from exc
    if response.status_code >= 400:
        raise KibanaImportError(f"Kibana refused the import (HTTP {response.status_code}): {_error_text(response)}")
    body = _json_or_none(response)
    if not isinstance(body, dict):
        raise KibanaImportError(
            f"Kibana answered HTTP {response.status_code} without a JSON object: {response.text[:500]}"
        )
    if not body.get("success"):
        raise KibanaImportError(
            f"Kibana imported {body.get('successCount', 0)} of {len(objects)} objects: "
            + _describe_import_errors(body.get("errors") or [])
        )
    return body


def kibana_status_level(body: Any) -> str:
    """The overall level from ``GET /api/status`` (8.x ``level``; 7.x ``state`` green means available)."""
    status = body.get("status") if isinstance(body, Mapping) else None
    overall = status.get("overall") if isinstance(status, Mapping) else None
    if not isinstance(overall, Mapping):
        return "unknown"
    if "level" in overall:
        return str(overall["level"])
    return "available" if overall.get("state") == "green" else str(overall.get("state", "unknown"))


def wait_for_kibana(
    kibana_url: str,
    timeout_s: float = 120,
    *,
    username: str = "",
    password: str = "",
    poll_s: float = 2.0,
) -> dict[str, Any]:
    """Poll ``GET /api/status`` until Kibana reports level ``available``; its status, or KibanaUnavailable."""
    url = f"{kibana_url.rstrip('/')}/api/status"
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=min(10.0, max(timeout_s, 0.1)), auth=_auth(username, password)) as client:
        while True:
            try:
                response = client.get(url)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (401, 403):
                    # Waiting will not fix credentials.
                    raise KibanaUnavailable(
                        f"Kibana at {kibana_url} refused the status request (HTTP {response.status_code}): "
                        f"{_error_text(response)}; give --username/--password"
                    )
                body = _json_or_none(response)
                level = kibana_status_level(body)
                if response.status_code == 200 and level == "available" and isinstance(body, dict):
                    return body
                last = f"HTTP {response.status_code}, level {level}"
            if time.monotonic() >= deadline:
                raise KibanaUnavailable(f"Kibana at {kibana_url} not available after {timeout_s:g}s ({last})")
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


# --- the command -----------------------------------------------------------------------------


def add_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``wirewatch kibana import`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "kibana",
        help="import the Kibana data view, saved searches and dashboard",
        description=(
            "Import config/kibana/saved_objects.ndjson into Kibana, with the data view on the read "
            f"alias (WIREWATCH_INDEX_PREFIX). The URL comes from --url, else ${KIBANA_URL_ENV}, else "
            f"{DEFAULT_KIBANA_URL}; credentials from --username/--password, else "
            f"${KIBANA_USERNAME_ENV}/${KIBANA_PASSWORD_ENV}."
        ),
    )
    p.add_argument("action", choices=("import",), help="import the saved objects")
    p.add_argument(
        "--url",
        default=os.environ.get(KIBANA_URL_ENV) or DEFAULT_KIBANA_URL,
        help=f"Kibana base URL, or a space's: …/s/SPACE (default: ${KIBANA_URL_ENV} or {DEFAULT_KIBANA_URL})",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for Kibana to report itself available",
    )
    p.add_argument(
        "--username",
        default=os.environ.get(KIBANA_USERNAME_ENV, ""),
        help=f"Kibana user (default ${KIBANA_USERNAME_ENV})",
    )
    p.add_argument(
        "--password",
        default=os.environ.get(KIBANA_PASSWORD_ENV, ""),
        help=f"its password (default ${KIBANA_PASSWORD_ENV})",
    )
    p.add_argument("--file", type=Path, help="saved objects (default: <config dir>/kibana/saved_objects.ndjson)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds for the import request")
    p.set_defaults(func=cmd_kibana)
    return p


def cmd_kibana(args: argparse.Namespace) -> int:
    from workers.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"wirewatch: {exc}") from exc
    path = args.file or settings.config_dir / SAVED_OBJECTS_FILE
    try:
        objects = load_saved_objects(path, settings.index_prefix)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"wirewatch: {exc}") from exc
    try:
        if args.wait > 0:
            wait_for_kibana(args.url, args.wait, username=args.username, password=args.password)
        result = import_saved_objects(
            args.url, objects, args.username, args.password, overwrite=True, timeout_s=args.timeout
        )
    except KibanaError as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return 1
    for item in result.get("successResults") or []:
        title = (item.get("meta") or {}).get("title", "")
        print(f"{item.get('type')}\t{item.get('id')}\t{title}")
    print(
        f"wirewatch: imported {result.get('successCount', len(objects))} objects into {args.url} "
        f"(data view {settings.index_prefix})",
        file=sys.stderr,
    )
    return 0
