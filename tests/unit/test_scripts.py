"""scripts/test says what it will install, and where, before installing anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _plan(tmp_path: Path, es_base: Path) -> str:
    # A PATH with nothing on it but what the script needs to find its way: every tool looks missing.
    tools = tmp_path / "bin"
    tools.mkdir(parents=True)
    for name in ("dirname", "id"):
        (tools / name).symlink_to(f"/usr/bin/{name}")
    env = {"PATH": str(tools), "WIREWATCH_TEST_PLAN_ONLY": "1", "WIREWATCH_TEST_ES_BASE": str(es_base)}
    proc = subprocess.run(["/bin/bash", "scripts/test"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return proc.stderr


def test_the_plan_lists_every_missing_piece_before_installing(tmp_path: Path) -> None:
    es_base = tmp_path / "es"
    plan = _plan(tmp_path, es_base)
    assert plan.startswith("scripts/test: installing what is missing:\n")
    for expected in (
        "redis-server (Debian package, apt-get)",
        "chromium",
        "maven unzip (Debian packages, apt-get)",
        "Elasticsearch 8.19.3 from Maven Central (about 100 MB",
    ):
        assert expected in plan, plan
    assert not es_base.exists()  # a plan, nothing installed


def test_elasticsearch_outside_the_clone_says_why(tmp_path: Path) -> None:
    plan = _plan(tmp_path, tmp_path / "es")
    line = next(line for line in plan.splitlines() if "Elasticsearch 8.19.3" in line)
    assert str(tmp_path / "es" / "elasticsearch-8.19.3") in line
    assert "outside the clone" in line and "system user" in line
    # Under the clone's .cache/ (as when not root) there is nothing to explain.
    assert "outside the clone" not in _plan(tmp_path / "again", ROOT / ".cache")
