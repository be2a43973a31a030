"""MkDocs hook: publish a few repository files outside ``docs/`` with the site, at the same path.

The report figures (``reports/``) and the shipped configs (``configs/``) stay where the code
writes and reads them; pages link to them as ``reports/bitwidths/pareto.png`` or
``configs/default.yaml`` and this hook adds them to the build, so ``mkdocs build --strict`` checks
those links like any other.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

PUBLISHED = ("reports/**/*.png", "reports/**/*.html", "configs/*.yaml", "configs/**/*.yaml")


def on_files(files, config):
    root = Path(config["config_file_path"]).parent
    seen = set()
    for pattern in PUBLISHED:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if rel not in seen and files.get_file_from_path(rel) is None:
                seen.add(rel)
                files.append(File.generated(config, rel, abs_src_path=str(path)))
    return files
