"""The shipped Kibana saved objects: well formed, self-consistent, and imported the way Kibana expects."""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from workers.kibana import (
    KibanaImportError,
    KibanaUnavailable,
    add_command,
    field_uses,
    fields_used,
    import_saved_objects,
    kql_fields,
    load_saved_objects,
    read_ndjson,
    wait_for_kibana,
)

REPO = Path(__file__).resolve().parents[2]
NDJSON = REPO / "config" / "kibana" / "saved_objects.ndjson"
DEFAULT_PREFIX = "wirewatch-stories"

# Attributes each type accepts in Kibana 8.x (the strict create schemas of 8.8+; older 8.x do not
# validate). An attribute outside these makes the import fail with a validation error.
ALLOWED_ATTRIBUTES = {
    "index-pattern": {
        "title", "name", "timeFieldName", "fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap",
        "sourceFilters", "typeMeta", "type", "allowNoIndex", "allowHidden",
    },
    "search": {
        "title", "description", "columns", "sort", "grid", "rowHeight", "rowsPerPage", "hideChart",
        "breakdownField", "kibanaSavedObjectMeta", "isTextBasedQuery", "usesAdHocDataView", "timeRestore",
        "timeRange", "refreshInterval", "viewMode", "hideAggregatedPreview", "hits", "version",
    },
    "visualization": {
        "title", "description", "version", "kibanaSavedObjectMeta", "uiStateJSON", "visState",
        "savedSearchRefName",
    },
    "dashboard": {
        "title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
        "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return read_ndjson(NDJSON)


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in objects}


def of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def by_title(objects: list[dict[str, Any]], title: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["attributes"].get("title") == title]
    return found


def search_source(obj: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    return parsed


def vis_state(obj: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(obj["attributes"]["visState"])
    return parsed


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = json.loads(dashboard["attributes"]["panelsJSON"])
    return parsed


def panel_reference(dashboard: dict[str, Any], panel: dict[str, Any]) -> dict[str, Any]:
    """Resolve a panel as Kibana 8 does: references named ``<panelIndex>:<panelRefName>``, else the bare name."""
    refs = dashboard["references"]
    prefix = f"{panel['panelIndex']}:"
    scoped = [(r["name"][len(prefix) :], r) for r in refs if r["name"].startswith(prefix)]
    candidates = scoped or [(r["name"], r) for r in refs]
    matches = [r for name, r in candidates if name == panel["panelRefName"]]
    assert len(matches) == 1, f"panel {panel['panelIndex']} resolves to {matches}"
    found: dict[str, Any] = matches[0]
    return found


# --- the file --------------------------------------------------------------------------------


def test_every_line_is_one_json_object() -> None:
    lines = NDJSON.read_text(encoding="utf-8").splitlines()
    assert lines, "no saved objects"
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"line {number} is blank"
        assert isinstance(json.loads(line), dict), f"line {number} is not an object"
    assert NDJSON.read_bytes().endswith(b"\n")


def test_every_object_has_id_type_attributes_and_a_version(objects: list[dict[str, Any]]) -> None:
    seen = set()
    for obj in objects:
        assert isinstance(obj.get("id"), str) and obj["id"], obj
        assert obj.get("type") in ALLOWED_ATTRIBUTES, obj.get("type")
        assert isinstance(obj.get("attributes"), dict) and obj["attributes"].get("title"), obj["id"]
        assert isinstance(obj.get("references"), list), obj["id"]
        # An object without a version would be run through every migration since 6.x.
        assert obj.get("migrationVersion") == {obj["type"]: "8.0.0"}, obj["id"]
        assert obj.get("coreMigrationVersion") == "8.0.0", obj["id"]
        assert (obj["type"], obj["id"]) not in seen, f"duplicate {obj['type']} {obj['id']}"
        seen.add((obj["type"], obj["id"]))


def test_attributes_are_ones_kibana_accepts(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        extra = set(obj["attributes"]) - ALLOWED_ATTRIBUTES[obj["type"]]
        assert not extra, f"{obj['id']}: Kibana rejects attributes {sorted(extra)}"


def test_embedded_json_strings_parse(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        attrs = obj["attributes"]
        for key in ("visState", "uiStateJSON", "panelsJSON", "optionsJSON", "fields", "typeMeta"):
            if key in attrs:
                json.loads(attrs[key])
        if "kibanaSavedObjectMeta" in attrs:
            source = search_source(obj)
            assert source["query"]["language"] == "kuery", obj["id"]
            assert isinstance(source["filter"], list), obj["id"]


def test_every_index_ref_name_has_a_reference(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if "kibanaSavedObjectMeta" not in obj["attributes"]:
            continue
        source = search_source(obj)
        assert "index" not in source, f"{obj['id']}: a raw index id instead of a reference"
        if obj["type"] in ("search", "visualization"):
            names = {r["name"]: r for r in obj["references"]}
            ref = names[source["indexRefName"]]
            assert ref["type"] == "index-pattern"


def test_all_references_point_at_objects_in_the_file(objects: list[dict[str, Any]]) -> None:
    present = {(o["type"], o["id"]) for o in objects}
    for obj in objects:
        names = [r["name"] for r in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"
        for ref in obj["references"]:
            assert set(ref) == {"name", "type", "id"}, ref
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} -> missing {ref['type']} {ref['id']}"


def test_the_data_view(objects: list[dict[str, Any]]) -> None:
    (view,) = of_type(objects, "index-pattern")
    assert view["id"] == DEFAULT_PREFIX
    assert view["attributes"]["title"] == DEFAULT_PREFIX
    assert view["attributes"]["timeFieldName"] == "published"
    assert json.loads(view["attributes"]["fields"]) == []  # Kibana 8 reads fields from the index


def test_the_saved_searches(objects: list[dict[str, Any]]) -> None:
    nato = by_title(objects, "Russia–NATO stories")
    assert search_source(nato)["query"]["query"] == "topic.score >= 0.4"
    assert nato["attributes"]["columns"] == ["title", "outlet", "published", "topic.score"]
    assert nato["attributes"]["sort"] == [["published", "desc"]]

    by_speaker = by_title(objects, "Claims by speaker")
    assert search_source(by_speaker)["query"]["query"] == "speakers:*"
    assert by_speaker["attributes"]["columns"] == ["speakers", "title", "outlet", "published"]
    assert by_speaker["attributes"]["sort"][0] == ["speakers", "asc"]

    latest = by_title(objects, "Latest claims")
    assert search_source(latest)["query"]["query"] == "speakers:*"
    assert latest["attributes"]["columns"] == ["speakers", "title", "outlet", "published"]
    assert latest["attributes"]["sort"] == [["published", "desc"]]


def test_the_visualizations(objects: list[dict[str, Any]]) -> None:
    states = {o["id"]: vis_state(o) for o in of_type(objects, "visualization")}
    for oid, state in states.items():
        assert state["title"] == by_id(objects)[oid]["attributes"]["title"]
        assert state["type"] in ("histogram", "horizontal_bar", "pie", "table"), oid
        assert [a["schema"] for a in state["aggs"]][0] == "metric", oid
        assert len({a["id"] for a in state["aggs"]}) == len(state["aggs"]), oid
    buckets = {
        (s["type"], a["type"], a["params"]["field"], a["params"].get("size"))
        for s in states.values()
        for a in s["aggs"]
        if a["schema"] != "metric"
    }
    assert ("histogram", "date_histogram", "published", None) in buckets
    assert ("table", "terms", "speakers", 10) in buckets
    assert any(b[:3] == ("pie", "terms", "outlet") for b in buckets)
    assert any(b[1] == "terms" and b[2] in ("entities.person", "entities.org") for b in buckets)
    # Kibana cannot aggregate inside nested fields.
    assert not any(b[2].startswith("claims") for b in buckets)


def test_xy_series_point_at_their_metric(objects: list[dict[str, Any]]) -> None:
    for obj in of_type(objects, "visualization"):
        state = vis_state(obj)
        if state["type"] not in ("histogram", "horizontal_bar"):
            continue
        metric_ids = {a["id"] for a in state["aggs"] if a["schema"] == "metric"}
        axes = {a["id"] for a in state["params"]["valueAxes"]}
        for series in state["params"]["seriesParams"]:
            assert series["data"]["id"] in metric_ids, obj["id"]
            assert series["valueAxis"] in axes, obj["id"]


def test_the_dashboard_references_every_panel(objects: list[dict[str, Any]]) -> None:
    dashboard = by_title(objects, "wirewatch — Russia–NATO")
    items = panels(dashboard)
    used = []
    for i, panel in enumerate(items):
        assert panel["panelRefName"] == f"panel_{i}"
        assert panel["gridData"]["i"] == panel["panelIndex"]
        assert "id" not in panel, "panel ids belong in references"
        ref = panel_reference(dashboard, panel)
        assert ref["type"] == panel["type"]
        used.append(ref["name"])
    assert sorted(used) == sorted(r["name"] for r in dashboard["references"]), "unused references"
    targets = {(r["type"], by_id(objects)[r["id"]]["attributes"]["title"]) for r in dashboard["references"]}
    assert ("search", "Latest claims") in targets
    assert {t for t, _ in targets} == {"visualization", "search"}
    assert len([t for t in targets if t[0] == "visualization"]) == 4


def test_dashboard_panels_fit_the_grid_without_overlap(objects: list[dict[str, Any]]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(of_type(objects, "dashboard")[0]):
        g = panel["gridData"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 48, panel
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panels {cells[(x, y)]} and {panel['panelIndex']} overlap"
                cells[(x, y)] = panel["panelIndex"]


# --- loading with a prefix -------------------------------------------------------------------


def test_load_with_the_default_prefix_changes_nothing(objects: list[dict[str, Any]]) -> None:
    assert load_saved_objects(NDJSON, DEFAULT_PREFIX) == objects


def test_load_rewrites_the_data_view_for_a_custom_prefix() -> None:
    loaded = load_saved_objects(NDJSON, "newsdesk-stories")
    (view,) = of_type(loaded, "index-pattern")
    assert view["id"] == "newsdesk-stories"
    assert view["attributes"]["title"] == "newsdesk-stories"
    assert view["attributes"]["timeFieldName"] == "published"
    view_refs = [r for o in loaded for r in o["references"] if r["type"] == "index-pattern"]
    assert view_refs and all(r["id"] == "newsdesk-stories" for r in view_refs)
    assert DEFAULT_PREFIX not in json.dumps(loaded)
    present = {(o["type"], o["id"]) for o in loaded}
    assert all((r["type"], r["id"]) in present for o in loaded for r in o["references"])


@pytest.mark.parametrize("prefix", ["", " padded", "a,b"])
def test_load_refuses_prefixes_that_cannot_name_a_data_view(prefix: str) -> None:
    with pytest.raises(ValueError):
        load_saved_objects(NDJSON, prefix)


def test_a_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"id": "a", "type": "index-pattern", "attributes": {}}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad\.ndjson:2"):
        read_ndjson(bad)


# --- fields ----------------------------------------------------------------------------------


def test_fields_used(objects: list[dict[str, Any]]) -> None:
    used = fields_used(objects)
    ids = {o["attributes"]["title"]: o["id"] for o in objects}
    assert used[ids[DEFAULT_PREFIX]] == {"published"}
    assert used[ids["Russia–NATO stories"]] == {"title", "outlet", "published", "topic.score"}
    assert used[ids["Claims by speaker"]] == {"speakers", "title", "outlet", "published"}
    assert used[ids["Latest claims"]] == {"speakers", "title", "outlet", "published"}
    assert used[ids["wirewatch — story timeline"]] == {"published"}
    assert used[ids["wirewatch — top speakers"]] == {"speakers"}
    assert used[ids["wirewatch — top outlets"]] == {"outlet"}
    assert used[ids["wirewatch — top people"]] == {"entities.person"}
    assert used[ids["wirewatch — Russia–NATO"]] == {"topic.score"}


def test_field_uses_say_how(objects: list[dict[str, Any]]) -> None:
    uses = field_uses(objects)
    assert uses[DEFAULT_PREFIX] == {"published": {"time_field"}}
    assert uses["wirewatch-search-russia-nato"]["topic.score"] == {"column", "range"}
    assert uses["wirewatch-search-russia-nato"]["published"] == {"column", "sort"}
    assert uses["wirewatch-search-latest-claims"]["speakers"] == {"column", "exists"}
    assert uses["wirewatch-vis-story-timeline"] == {"published": {"date_histogram"}}
    assert uses["wirewatch-vis-top-speakers"] == {"speakers": {"terms"}}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("topic.score >= 0.4", {"topic.score": {"range"}}),
        ("published < now-1d", {"published": {"range"}}),
        ("speakers:*", {"speakers": {"exists"}}),
        ("speakers : * ", {"speakers": {"exists"}}),
        ("entities.person: Putin*", {"entities.person": {"match"}}),
        (
            'outlet: "Reuters: Moscow" and not (language: ru or speaker_ids:*)',
            {"outlet": {"match"}, "language": {"match"}, "speaker_ids": {"exists"}},
        ),
        ('title: "a:b c >= d"', {"title": {"match"}}),
        ('claims:{ speaker: "Peskov" and start > 3 }', {"claims.speaker": {"match"}, "claims.start": {"range"}}),
        ("", {}),
        ("kaliningrad", {}),
    ],
)
def test_kql_fields(query: str, expected: dict[str, set[str]]) -> None:
    assert kql_fields(query) == expected


# --- import against a fake Kibana --------------------------------------------------------------


@dataclass
class FakeKibana:
    """A local HTTP server standing in for Kibana: records requests, answers what it is told."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=list)  # consumed in order; the last one repeats

    def reply(self) -> tuple[int, Any]:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def fake_kibana(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKibana]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeKibana()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            status, payload = fake.reply()
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def multipart_files(request: dict[str, Any]) -> dict[str, tuple[str | None, bytes]]:
    """Form parts by name: (filename, content), parsed with the standard library's MIME parser."""
    content_type = request["headers"]["Content-Type"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
    )
    assert message.is_multipart()
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts[str(name)] = (part.get_filename(), payload)
    return parts


def test_import_posts_the_ndjson_as_multipart_with_kbn_xsrf(fake_kibana: FakeKibana) -> None:
    objects = load_saved_objects(NDJSON, "newsdesk-stories")
    fake_kibana.replies = [(200, {"success": True, "successCount": len(objects), "successResults": []})]

    result = import_saved_objects(fake_kibana.url, objects)

    assert result == {"success": True, "successCount": len(objects), "successResults": []}
    (request,) = fake_kibana.requests
    url = urlsplit(request["path"])
    assert request["method"] == "POST"
    assert url.path == "/api/saved_objects/_import"
    assert parse_qs(url.query) == {"overwrite": ["true"]}
    assert request["headers"]["kbn-xsrf"] == "true"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Authorization" not in request["headers"]
    parts = multipart_files(request)
    assert set(parts) == {"file"}
    filename, content = parts["file"]
    assert filename is not None and filename.endswith(".ndjson")
    lines = content.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == objects
    assert "Russia–NATO" in content.decode("utf-8")  # UTF-8, not \u escapes


def test_import_sends_basic_auth_and_can_skip_overwrite(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [(200, {"success": True, "successCount": 1})]
    objects = read_ndjson(NDJSON)[:1]

    import_saved_objects(fake_kibana.url + "/s/newsroom/", objects, "elastic", "s3cret", overwrite=False)

    (request,) = fake_kibana.requests
    assert request["path"] == "/s/newsroom/api/saved_objects/_import"
    expected = base64.b64encode(b"elastic:s3cret").decode()
    assert request["headers"]["Authorization"] == f"Basic {expected}"


def test_a_refused_import_raises_with_kibanas_message(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [
        (400, {"statusCode": 400, "error": "Bad Request", "message": "Unexpected token } in JSON at line 3"})
    ]
    with pytest.raises(KibanaImportError) as caught:
        import_saved_objects(fake_kibana.url, read_ndjson(NDJSON))
    assert "Unexpected token } in JSON at line 3" in str(caught.value)
    assert "400" in str(caught.value)


def test_a_partial_import_raises_naming_the_failed_objects(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [
        (
            200,
            {
                "success": False,
                "successCount": 8,
                "errors": [
                    {
                        "id": "wirewatch-vis-top-outlets",
                        "type": "visualization",
                        "meta": {"title": "wirewatch — top outlets"},
                        "error": {
                            "type": "missing_references",
                            "references": [{"type": "index-pattern", "id": "nowhere"}],
                        },
                    }
                ],
            },
        )
    ]
    with pytest.raises(KibanaImportError) as caught:
        import_saved_objects(fake_kibana.url, read_ndjson(NDJSON))
    message = str(caught.value)
    assert "imported 8 of 9" in message
    assert "wirewatch-vis-top-outlets" in message and "missing_references" in message and "nowhere" in message


def test_an_unreachable_kibana_raises_a_clear_error() -> None:
    from tests.harness import free_port

    with pytest.raises(KibanaImportError, match="could not reach Kibana"):
        import_saved_objects(f"http://127.0.0.1:{free_port()}", [], timeout_s=2)


def test_wait_for_kibana_polls_until_available(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [
        (503, b"Kibana server is not ready yet"),
        (200, {"status": {"overall": {"level": "degraded"}}}),
        (200, {"version": {"number": "8.19.3"}, "status": {"overall": {"level": "available"}}}),
    ]
    status = wait_for_kibana(fake_kibana.url, 10, poll_s=0.01)
    assert status["version"]["number"] == "8.19.3"
    assert [r["path"] for r in fake_kibana.requests] == ["/api/status"] * 3


def test_wait_for_kibana_gives_up(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [(503, b"Kibana server is not ready yet")]
    with pytest.raises(KibanaUnavailable, match="not available after"):
        wait_for_kibana(fake_kibana.url, 0.2, poll_s=0.05)


def test_wait_for_kibana_does_not_wait_on_bad_credentials(fake_kibana: FakeKibana) -> None:
    fake_kibana.replies = [(401, {"statusCode": 401, "error": "Unauthorized", "message": "missing credentials"})]
    with pytest.raises(KibanaUnavailable, match="missing credentials"):
        wait_for_kibana(fake_kibana.url, 30, poll_s=0.05)
    assert len(fake_kibana.requests) == 1


# --- the command -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch")
    add_command(parser.add_subparsers(dest="command", required=True))
    return parser


def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings rejects unknown WIREWATCH_* names, including the test harness's own."""
    import os

    for name in list(os.environ):
        if name.startswith("WIREWATCH_") or name.startswith("KIBANA_"):
            monkeypatch.delenv(name)


def test_the_command_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_settings_env(monkeypatch)
    args = build_parser().parse_args(["kibana", "import"])
    assert (args.url, args.wait, args.username, args.password) == ("http://localhost:5601", 0.0, "", "")
    monkeypatch.setenv("KIBANA_URL", "http://kibana.internal:5601")
    monkeypatch.setenv("KIBANA_USERNAME", "elastic")
    args = build_parser().parse_args(["kibana", "import", "--wait", "30"])
    assert (args.url, args.wait, args.username) == ("http://kibana.internal:5601", 30.0, "elastic")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["kibana", "export"])


def test_the_command_imports_for_the_configured_prefix(
    fake_kibana: FakeKibana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_settings_env(monkeypatch)
    monkeypatch.setenv("WIREWATCH_INDEX_PREFIX", "newsdesk-stories")
    fake_kibana.replies = [
        (200, {"status": {"overall": {"level": "available"}}}),
        (
            200,
            {
                "success": True,
                "successCount": 9,
                "successResults": [{"type": "index-pattern", "id": "newsdesk-stories", "meta": {"title": "x"}}],
            },
        ),
    ]
    args = build_parser().parse_args(["kibana", "import", "--url", fake_kibana.url, "--wait", "5"])

    assert args.func(args) == 0

    status, post = fake_kibana.requests
    assert status["path"] == "/api/status"
    sent = [json.loads(line) for line in multipart_files(post)["file"][1].decode().splitlines()]
    (view,) = of_type(sent, "index-pattern")
    assert view["attributes"]["title"] == "newsdesk-stories"
    assert "index-pattern\tnewsdesk-stories" in capsys.readouterr().out


def test_the_command_reports_a_failed_import(
    fake_kibana: FakeKibana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_settings_env(monkeypatch)
    fake_kibana.replies = [(415, {"statusCode": 415, "error": "Unsupported Media Type", "message": "nope"})]
    args = build_parser().parse_args(["kibana", "import", "--url", fake_kibana.url])
    assert args.func(args) == 1
    assert "nope" in capsys.readouterr().err
