"""The raw store: fetched bodies as gzip files named by the SHA-256 of their content."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

from pipeline.errors import PermanentError


class FileRawStore:
    """Content-addressed and write-once, so storing the same page twice costs nothing."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise PermanentError(f"not a raw store key: {key!r}")
        return self._root / key[:2] / key[2:4] / f"{key}.gz"

    def put(self, body: bytes) -> str:
        key = hashlib.sha256(body).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file and concurrent writers agree.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(gzip.compress(body, compresslevel=6, mtime=0))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return gzip.decompress(path.read_bytes())
        except FileNotFoundError as exc:
            raise PermanentError(f"raw body {key} is not in the raw store") from exc
