"""Test fixtures: real services started on free ports, network limited to this machine.

Services come from ``WIREWATCH_TEST_REDIS_URL`` / ``WIREWATCH_TEST_ELASTICSEARCH_URL`` when given,
else the harness starts them (Redis from Debian's redis-server, Elasticsearch from
``WIREWATCH_TEST_ES_HOME``, which scripts/test prepares). With ``CI=true`` a missing service fails
the run instead of skipping the tests that need it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ElasticsearchProcess, RedisProcess, ServiceUnavailable, temporary_prefix
from workers.services import EmbeddedRedis

REPO = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, why: object) -> None:
    if CI:
        pytest.fail(f"{what} is required under CI=true but unavailable: {why}", pytrace=False)
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture(autouse=True)
def _local_network_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to this machine only: a connect to any other address is an error."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = host == "localhost"
            if not local:
                raise OSError(f"tests may not reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("WIREWATCH_TEST_REDIS_URL")
    if given:
        yield given
        return
    try:
        server = RedisProcess.start()
    except (ServiceUnavailable, RuntimeError, OSError) as exc:
        _unavailable("Redis", exc)
        return
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("embedded-redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    given = os.environ.get("WIREWATCH_TEST_ELASTICSEARCH_URL")
    if given:
        yield given
        return
    home = os.environ.get("WIREWATCH_TEST_ES_HOME", "/opt/wirewatch/elasticsearch-8.19.3")
    try:
        server = ElasticsearchProcess.start(Path(home))
    except (ServiceUnavailable, OSError) as exc:
        _unavailable("Elasticsearch", exc)
        return
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def es_prefix(es_url: str) -> Iterator[str]:
    """A fresh index prefix per test; its indices and template are deleted afterwards."""
    with temporary_prefix(es_url) as prefix:
        yield prefix
