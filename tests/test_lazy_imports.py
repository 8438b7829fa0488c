"""The API, the workers and the engine start without the insight and spreadsheet libraries.

scikit-learn, numpy, scipy, jieba and openpyxl cost each process over 100 MB and seconds at
start; only the insight features (suggestions, hotspots, duplicates, training) and XLSX writing
use them, and they import them on first use. A fresh interpreter imports every module of ``api``,
``workers`` and ``engine`` (the migrations aside: Alembic runs those) and none may be loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sklearn", "numpy", "scipy", "jieba", "openpyxl")

# Prints {module: [heavy libraries its import loaded first]} and the libraries loaded in the end.
PROBE = """
import importlib, json, pkgutil, sys
heavy = {heavy!r}
first = {{}}


def load(name):
    before = {{m for m in heavy if m in sys.modules}}
    importlib.import_module(name)
    new = [m for m in heavy if m in sys.modules and m not in before]
    if new:
        first[name] = new


load("api.app")
for package in ("workers", "engine", "api"):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if ".migrations" not in info.name:
            load(info.name)
print(json.dumps({{"first": first, "loaded": [m for m in heavy if m in sys.modules]}}))
"""


def test_api_workers_and_engine__import_none_of_the_heavy_libraries() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == [], f"loaded at import (module: libraries): {found['first']}"
