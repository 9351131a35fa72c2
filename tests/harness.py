"""Real services for tests: a Redis server and an Elasticsearch node on free ports, health-checked."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workers.services import redis_server_args, redis_server_binary, wait_for_redis

ES_USER = "wirewatch-es"
JAVA_HOME_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-21-openjdk-amd64")


class ServiceUnavailable(RuntimeError):
    """A service the test needs could not be found or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisProcess:
    url: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    password: str = ""

    @classmethod
    def start(cls, password: str = "") -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        directory = Path(tempfile.mkdtemp(prefix="ww-redis-"))
        args = [binary, *redis_server_args(directory, port=port)]
        if password:
            args += ["--requirepass", password]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        auth = f":{password}@" if password else ""
        url = f"redis://{auth}127.0.0.1:{port}/0"
        wait_for_redis(url)
        return cls(url, port, directory, proc, password)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def embedded_redis_binary() -> str:
    return redis_server_binary()


def _java_home() -> str:
    for candidate in (os.environ.get("ES_JAVA_HOME", ""), *JAVA_HOME_CANDIDATES):
        if candidate and Path(candidate, "bin", "java").exists():
            return candidate
    raise ServiceUnavailable("no Java 17+ found for Elasticsearch (set ES_JAVA_HOME)")


def _ensure_user() -> None:
    try:
        pwd.getpwnam(ES_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_USER], check=True
        )


def es_health(url: str, timeout_s: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout_s) as resp:
            status: str = json.load(resp)["status"]
            return status
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


@dataclass
class ElasticsearchProcess:
    url: str
    workdir: Path
    pidfile: Path

    @classmethod
    def start(cls, es_home: Path, heap: str = "512m", timeout_s: float = 120.0) -> ElasticsearchProcess:
        if not (es_home / "bin" / "elasticsearch").exists():
            raise ServiceUnavailable(f"no Elasticsearch at {es_home} (scripts/test downloads it)")
        java = _java_home()
        port, transport = free_port(), free_port()
        workdir = Path(tempfile.mkdtemp(prefix="ww-es-"))
        for sub in ("data", "logs", "run"):
            (workdir / sub).mkdir()
        os.chmod(workdir, 0o755)
        cmd = [
            str(es_home / "bin" / "elasticsearch"),
            "-d",
            "-p",
            str(workdir / "run" / "es.pid"),
            "-Ediscovery.type=single-node",
            f"-Ehttp.port={port}",
            f"-Etransport.port={transport}",
            "-Ehttp.host=127.0.0.1",
            "-Etransport.host=127.0.0.1",
            f"-Epath.data={workdir / 'data'}",
            f"-Epath.logs={workdir / 'logs'}",
            "-Ecluster.routing.allocation.disk.threshold_enabled=false",
            "-Expack.security.enabled=false",
            "-Expack.ml.enabled=false",
        ]
        env = {**os.environ, "ES_JAVA_HOME": java, "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}"}
        if os.geteuid() == 0:
            # Elasticsearch refuses to run as root.
            _ensure_user()
            subprocess.run(["chown", "-R", f"{ES_USER}:", str(workdir)], check=True)
            subprocess.run(["chown", "-R", f"{ES_USER}:", str(es_home)], check=True)
            cmd = [
                "runuser",
                "-u",
                ES_USER,
                "--",
                "env",
                f"ES_JAVA_HOME={java}",
                f"ES_JAVA_OPTS=-Xms{heap} -Xmx{heap}",
                *cmd,
            ]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        proc = cls(url, workdir, workdir / "run" / "es.pid")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if es_health(url) in ("green", "yellow"):
                return proc
            time.sleep(0.5)
        logs = "\n".join(p.read_text()[-3000:] for p in (workdir / "logs").glob("*.log"))
        proc.stop()
        raise ServiceUnavailable(f"Elasticsearch did not become healthy in {timeout_s}s:\n{logs}")

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 15)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def temporary_prefix(es_url: str) -> Iterator[str]:
    """An index prefix of its own; its indices and template are deleted afterwards."""
    from elasticsearch import Elasticsearch

    prefix = f"wwtest-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        es = Elasticsearch(es_url)
        # Wildcard deletes are refused by default (action.destructive_requires_name), so name each index.
        names = list(es.options(ignore_status=404).indices.get(index=f"{prefix}-v*").body)
        if names:
            es.indices.delete(index=",".join(names))
        es.options(ignore_status=404).indices.delete_index_template(name=prefix)
        es.close()
