"""The image build context: small, and still holding everything the Dockerfile copies."""

from __future__ import annotations

import re
from pathlib import Path

from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 5 * 1024 * 1024  # the sources and config are about 1 MB


def _context() -> set[str]:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return exclude_paths(str(ROOT), patterns)  # Docker's own matching rules, as `docker build` applies them


def test_context_is_small_and_leaves_out_venv_caches_and_data() -> None:
    # Make sure the heavy folders are there to leave out, as after the Quick start.
    for name in (".venv", "wirewatch-data", ".cache", "tests/artifacts"):
        (ROOT / name).mkdir(parents=True, exist_ok=True)
    probe = ROOT / "wirewatch-data" / "probe.bin"
    probe.write_bytes(b"x" * 1024)
    try:
        context = _context()
    finally:
        probe.unlink()
    files = [ROOT / p for p in context if (ROOT / p).is_file()]
    size = sum(f.stat().st_size for f in files)
    assert size < LIMIT_BYTES, f"{size} bytes in the build context"
    tops = {p.split("/")[0] for p in context}
    assert tops <= {".dockerignore", "Dockerfile", "pyproject.toml", "README.md", "pipeline", "workers", "config"}, tops
    assert "probe.bin" not in str(context)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in context)


def test_every_copy_source_is_in_the_context() -> None:
    context = _context()
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = [s for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.M) for s in line.split()[:-1]]
    assert sources, "the Dockerfile copies nothing?"
    for source in sources:
        assert source.strip("./") in context, f"COPY {source} is left out by .dockerignore"
    assert "workers/web/index.html" in context and "config/feeds.yaml" in context
