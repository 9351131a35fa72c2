"""Outcomes a stage can end in besides success; tasks choose retry or dead-letter by type."""

from __future__ import annotations


class StageError(Exception):
    """Base of every error a stage raises on purpose."""

    reason = "error"


class TransientError(StageError):
    """Worth retrying later: network trouble, a busy server (429/503), a timeout."""

    reason = "transient"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(StageError):
    """Retrying will not help: bad input, a 404, a body too large, a blocked address."""

    reason = "permanent"


class BlockedAddress(PermanentError):
    """The URL points at a loopback, private, link-local or metadata address."""

    reason = "blocked_address"


class BlockedRedirect(BlockedAddress):
    """A redirect pointed at an address the guard refuses; the message names the target."""

    reason = "blocked_redirect"


class Gone(PermanentError):
    """HTTP 410: the resource was removed on purpose; a feed that answers this is polled rarely."""

    reason = "gone"


class TooLarge(PermanentError):
    """The (decompressed) body is larger than the configured cap."""

    reason = "too_large"


class BadContent(PermanentError):
    """The body is not what was asked for (wrong content type, unparseable feed)."""

    reason = "bad_content"


class DropStory(StageError):
    """The story is deliberately not taken further (a duplicate, not an article, empty text)."""

    reason = "dropped"

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
