"""Fixtures of the security tests: one secured Elasticsearch node and one secured Redis per session.

As in ``tests/conftest.py``: with ``CI=true`` a service that cannot start fails the run, else the
tests that need it are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServiceUnavailable
from tests.security.harness import SecureElasticsearch, SecureRedis

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, why: object) -> None:
    if CI:
        pytest.fail(f"{what} is required under CI=true but unavailable: {why}", pytrace=False)
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture(scope="session")
def secure_es() -> Iterator[SecureElasticsearch]:
    home = Path(os.environ.get("WIREWATCH_TEST_ES_HOME", "/opt/wirewatch/elasticsearch-8.19.3"))
    try:
        node = SecureElasticsearch.start(home, heap="512m")
    except (ServiceUnavailable, OSError, RuntimeError) as exc:
        _unavailable("secured Elasticsearch", exc)
        return
    yield node
    node.stop()


@pytest.fixture(scope="session")
def secure_redis() -> Iterator[SecureRedis]:
    try:
        server = SecureRedis.start()
    except (ServiceUnavailable, OSError, RuntimeError) as exc:
        _unavailable("password-protected Redis", exc)
        return
    yield server
    server.stop()


@pytest.fixture
def tls_redis(secure_redis: SecureRedis) -> SecureRedis:
    if not secure_redis.tls_port:
        pytest.skip("this redis-server was built without TLS")
    return secure_redis
