"""Settings: one typed, frozen object from WIREWATCH_* variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from workers.settings import REPO_CONFIG, Settings, SettingsError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert s.redis_url == "" and s.embedded_redis
    assert s.elasticsearch_url == "" and s.embedded_index
    assert s.index_prefix == "wirewatch-stories"
    assert s.worker_concurrency == 0  # one process child per core
    assert s.max_redirects == 5
    assert s.max_body_bytes == 10 * 1024 * 1024
    assert s.total_timeout_s == 30.0
    assert s.allow_hosts == ()
    assert s.data_dir == Path("wirewatch-data")
    assert s.config_dir == REPO_CONFIG
    assert s.feeds_path == REPO_CONFIG / "feeds.yaml"
    assert s.log_level == "INFO"


def test_other_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/usr/bin", "HOME": "/root", "WIREWATCHER": "x"}) == Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().worker_concurrency = 9  # type: ignore[misc]


def test_typed_values() -> None:
    s = Settings.from_env(
        {
            "WIREWATCH_WORKER_CONCURRENCY": "3",
            "WIREWATCH_TOTAL_TIMEOUT_S": "12.5",
            "WIREWATCH_DATA_DIR": "/var/lib/wirewatch",
            "WIREWATCH_ALLOW_HOSTS": "a, b",
            "WIREWATCH_REDIS_URL": "redis://localhost:6379/0",
            "WIREWATCH_FEEDS_FILE": "/etc/wirewatch/feeds.yaml",
        }
    )
    assert s.worker_concurrency == 3
    assert s.total_timeout_s == 12.5
    assert s.data_dir == Path("/var/lib/wirewatch")
    assert s.allow_hosts == ("a", "b")
    assert s.redis_url == "redis://localhost:6379/0" and not s.embedded_redis
    assert s.feeds_path == Path("/etc/wirewatch/feeds.yaml")


def test_allow_hosts_drops_empty_items() -> None:
    assert Settings.from_env({"WIREWATCH_ALLOW_HOSTS": " 127.0.0.1 ,, localhost , "}).allow_hosts == (
        "127.0.0.1",
        "localhost",
    )
    assert Settings.from_env({"WIREWATCH_ALLOW_HOSTS": ""}).allow_hosts == ()


def test_unknown_setting_is_named() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"WIREWATCH_FOO": "1"})
    assert "WIREWATCH_FOO" in str(info.value)
    # the message helps by listing what is known
    assert "WIREWATCH_WORKER_CONCURRENCY" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WIREWATCH_WORKER_CONCURRENCY", "three"),
        ("WIREWATCH_MAX_REDIRECTS", "2.5"),
        ("WIREWATCH_TOTAL_TIMEOUT_S", "soon"),
        ("WIREWATCH_MAX_BODY_BYTES", ""),
    ],
)
def test_bad_number_is_an_error(key: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({key: value})
    assert key in str(info.value)


def test_to_env_round_trips() -> None:
    original = Settings(
        redis_url="redis://:s3cret@redis.internal:6379/2",
        elasticsearch_url="https://es.internal:9200",
        elasticsearch_username="wirewatch",
        elasticsearch_password="hunter2",
        index_prefix="ww-test",
        data_dir=Path("/srv/wirewatch"),
        worker_concurrency=4,
        read_timeout_s=2.5,
        allow_hosts=("127.0.0.1", "localhost"),
        log_level="DEBUG",
    )
    env = original.to_env()
    assert env["WIREWATCH_WORKER_CONCURRENCY"] == "4"
    assert env["WIREWATCH_ALLOW_HOSTS"] == "127.0.0.1,localhost"
    assert "WIREWATCH_MAX_REDIRECTS" not in env  # defaults are left out
    assert all(k.startswith("WIREWATCH_") and isinstance(v, str) for k, v in env.items())
    assert Settings.from_env(env) == original
    assert Settings().to_env() == {}


def test_redacted_masks_secrets() -> None:
    s = Settings(
        redis_url="redis://:s3cret-pw@redis.internal:6379/0",
        elasticsearch_url="https://elastic:es-pass@es.internal:9200",
        elasticsearch_password="hunter2",
        elasticsearch_api_key="QUtJQUlPU0ZPRE5ON0VYQU1QTEU=",
        data_dir=Path("/srv/wirewatch"),
    )
    out = s.redacted()
    assert out["elasticsearch_password"] == "***"
    assert out["elasticsearch_api_key"] == "***"
    assert out["redis_url"] == "redis://***@redis.internal:6379/0"
    assert out["elasticsearch_url"] == "https://***@es.internal:9200"
    assert out["data_dir"] == "/srv/wirewatch"
    printed = repr(out)
    for secret in ("s3cret-pw", "es-pass", "hunter2", "QUtJQUlPU0ZPRE5ON0VYQU1QTEU="):
        assert secret not in printed
    # the dataclass repr does not show them either
    assert "hunter2" not in repr(s)


def test_redacted_keeps_empty_and_plain_values() -> None:
    out = Settings(redis_url="redis://localhost:6379/0").redacted()
    assert out["redis_url"] == "redis://localhost:6379/0"
    assert out["elasticsearch_password"] == ""
    assert set(out) == {f.name for f in dataclasses.fields(Settings)}
