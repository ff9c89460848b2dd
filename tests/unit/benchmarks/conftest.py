"""The benchmarks are a package at the repository's root, outside ``src/`` and the test
path: put the root on the import path so that these tests import ``benchmarks``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
