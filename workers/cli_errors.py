"""What the ``wirewatch`` command says when something goes wrong: one line, what and what to do.

Exit status 2 is a usage error (the command line or a setting is wrong), 1 a runtime one (a service
is down, a port is taken). A traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from typing import NoReturn

from workers.settings import Settings, SettingsError, redact_url

USAGE = 2
RUNTIME = 1
BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE, as `yes | head` does


class UsageError(Exception):
    """The user asked for something malformed; exit 2."""


class CommandError(Exception):
    """The command could not do its job for a reason outside the program; exit 1."""


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line that names the command and points at its --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def time_bound(raw: str) -> str:
    """A --from/--to value: a date (YYYY-MM-DD) or an ISO 8601 time that exists; anything else is refused."""
    from workers.api import valid_time

    if not valid_time(raw.strip()):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a date: use YYYY-MM-DD (e.g. 2026-11-20) or an ISO 8601 time (2026-11-20T08:00Z)"
        )
    return raw.strip()


def bounded_int(low: int, high: int) -> argparse._ActionType:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {low} to {high}")
        return value

    return parse


def explain(exc: BaseException, settings: Settings | None) -> tuple[int, str]:
    """(exit status, one line) for an exception that reached the top of a command."""
    import redis

    from pipeline.errors import StageError

    if isinstance(exc, UsageError | SettingsError):
        return USAGE, f"{exc}"
    if isinstance(exc, CommandError):
        return RUNTIME, str(exc)
    if (
        isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.ResponseError)
        and "auth" in str(exc).lower()
    ):
        return RUNTIME, f"Redis refused the credentials ({exc}); check the password in WIREWATCH_REDIS_URL"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError) or (
        type(exc).__module__.startswith("kombu") and "OperationalError" in type(exc).__name__
    ):
        where = redact_url(settings.redis_url) if settings and settings.redis_url else "the embedded Redis"
        return RUNTIME, (
            f"cannot reach Redis at {where}: {_first_line(exc)}; start it or fix WIREWATCH_REDIS_URL "
            f"(unset, wirewatch runs its own under the data folder)"
        )
    if isinstance(exc, StageError) or _is_elasticsearch(exc):
        where = redact_url(settings.elasticsearch_url) if settings and settings.elasticsearch_url else "the index"
        return RUNTIME, (
            f"the story index at {where} is unavailable: {_first_line(exc)}; start Elasticsearch or fix "
            f"WIREWATCH_ELASTICSEARCH_URL (unset, wirewatch uses its embedded SQLite index)"
        )
    if isinstance(exc, PermissionError):
        return RUNTIME, f"permission denied: {exc.filename or exc}; check the owner of WIREWATCH_DATA_DIR"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return RUNTIME, "no space left on the device holding WIREWATCH_DATA_DIR"
    if isinstance(exc, FileNotFoundError):
        return RUNTIME, f"file not found: {exc.filename}; check WIREWATCH_CONFIG_DIR / WIREWATCH_FEEDS_FILE"
    return RUNTIME, (
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        f"(run again with --debug for the traceback, and please report it)"
    )


def _is_elasticsearch(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("elasticsearch", "elastic_transport")


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    # Clients nest the socket error in three wrappers; the innermost says what happened.
    nested = re.search(r"\[Errno -?\d+\] ([^)'\"\]]+)", text)
    if nested and "caused by" in text:
        text = text.split(":", 1)[0] + ": " + nested.group(1).strip().rstrip(".")
    return text if len(text) <= 240 else text[:239] + "…"


def quiet_broken_pipe() -> int:
    """The reader went away (``| head``): stop writing, say nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    return BROKEN_PIPE
