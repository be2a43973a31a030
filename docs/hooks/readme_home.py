"""MkDocs hook: the site's home page is ``README.md``, so the front door and the docs home cannot drift.

There is no ``docs/index.md``: :func:`on_files` generates it from the README at every build. The
README links into the docs as ``docs/<page>.md``, which is right on GitHub; the home page sits
inside ``docs/`` on the site, so :func:`home_page` drops that prefix (the bare folder link
``docs/`` becomes the empty link, this site). The README links shipped configs by their real
path, ``accelsim/configs/`` (GitHub does not follow the top-level ``configs`` symlink); on the site
they become ``configs/``. Links to ``reports/`` and ``configs/`` keep their paths: ``repo_files.py`` publishes those files at the same place, and ``mkdocs build --strict``
checks every link of the result.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

HOME = "index.md"
README = "README.md"
DOCS_LINK = re.compile(r"\]\(docs/([^)\s]*)\)")
"""A Markdown link target inside ``docs/`` (``](docs/energy.md)``, ``](docs/)``)."""


CONFIGS_LINK = "](accelsim/configs/"
"""A link to a shipped config by its path in the package."""


def home_page(readme: str) -> str:
    """The README as the site's home page: links into ``docs/`` made relative to ``docs/``, links
    to the shipped configs pointed at their published copies under ``configs/``."""
    return DOCS_LINK.sub(lambda m: f"]({m.group(1)})", readme).replace(CONFIGS_LINK, "](configs/")


def _readme(config) -> Path:
    return Path(config["config_file_path"]).parent / README


def on_files(files, config):
    if files.get_file_from_path(HOME) is not None:
        raise PluginError(f"docs/{HOME} exists: the home page is generated from {README} (docs/hooks/readme_home.py); "
                         f"delete docs/{HOME} and edit {README}")
    text = _readme(config).read_text(encoding="utf-8")
    files.append(File.generated(config, HOME, content=home_page(text)))
    return files


def on_serve(server, config, builder):
    server.watch(str(_readme(config)))  # `mkdocs serve` rebuilds when the README changes
    return server
