"""The README, the front door: short, and every link it makes lands on a file of the checkout.

The README is also the docs site's home page (``docs/hooks/readme_home.py``; ``mkdocs build
--strict`` in ``.ci/run`` checks the links there); this checks them as GitHub shows them.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_at_most_12_kb():
    assert README.stat().st_size <= 12 * 1024


def test_every_relative_link_of_the_readme_names_a_file_or_folder_of_the_checkout():
    targets = [t.split("#")[0] for t in LINK.findall(README.read_text(encoding="utf-8"))
               if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    assert any(t.startswith("docs/") for t in targets), targets
    missing = [t for t in targets if not (REPO / t).exists()]
    assert not missing, missing
    assert not (REPO / "docs" / "index.md").exists(), "the docs home is generated from the README"
