"""docker-compose.yml: the services the deployment needs, configured like a local run."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from workers.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(COMPOSE.read_text())


def test_services_present() -> None:
    services = _compose()["services"]
    assert {"redis", "elasticsearch", "kibana", "control", "fetch", "process", "index"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--maxmemory-policy noeviction" in redis_cmd
    assert services["elasticsearch"]["image"].split(":")[-1].startswith("8.")
    assert services["elasticsearch"]["environment"]["discovery.type"] == "single-node"


def test_wirewatch_containers_use_only_known_settings() -> None:
    known = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    services = _compose()["services"]
    for name in ("control", "fetch", "process", "index", "index-init"):
        env = services[name]["environment"]
        assert env["WIREWATCH_REDIS_URL"].endswith("redis:6379/0}")
        assert "elasticsearch:9200" in env["WIREWATCH_ELASTICSEARCH_URL"]
        assert set(env) <= known, set(env) - known
    # One service per kind of worker, each started the way `wirewatch run --only KIND` starts it.
    for kind in ("control", "fetch", "process", "index"):
        assert services[kind]["command"] == ["run", "--only", kind]


def _compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_validates() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose client on this machine (scripts/test installs docker-compose)")
    out = subprocess.run([*cli, "-f", str(COMPOSE), "config"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "process" in out.stdout and "elasticsearch" in out.stdout
