"""Where tests find reference files: the vendored copies in ``tests/data/shared``, else ``../shared``.

``ACCELSIM_SHARED`` names the shared folder (default: ``shared`` beside the checkout). Every file
a test needs is vendored, so the suite runs on a fresh clone without it; the shared folder only
serves files added there later and the data-heavy checks in ``benchmarks/``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDORED = REPO / "tests" / "data" / "shared"
SHARED = Path(os.environ.get("ACCELSIM_SHARED", REPO.parent / "shared"))


def shared_path(rel: str) -> Path:
    """The vendored copy of ``<shared>/rel`` when there is one, else the file in the shared folder."""
    vendored = VENDORED / rel
    return vendored if vendored.exists() else SHARED / rel


MODELS = shared_path("models")
DATA = shared_path("data")
SCALESIM = shared_path("topologies/scalesim")
