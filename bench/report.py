"""Benchmark output: flat JSON in bench/results/<name>.json and a section of docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import re
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Each section is written by its benchmark command (see the README); figures are from one run on
this project's reference machine (2 cores, 24 GB). Speed targets are ratios measured in the same run.
"""


def machine() -> str:
    return f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"


def write(name: str, figures: dict[str, Any], markdown: str) -> None:
    """Store the figures and replace this benchmark's section of BENCHMARKS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    doc = DOC.read_text() if DOC.exists() else HEADER
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    section = (f"<!-- bench:{name} -->\n{markdown.strip()}\n\n"
               f"_Run on {stamp} ({machine()}); figures in `bench/results/{name}.json`._\n<!-- /bench:{name} -->")
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.DOTALL)
    doc = pattern.sub(lambda _m: section, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + section + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(doc)
