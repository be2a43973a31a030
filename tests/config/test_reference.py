"""The generated configuration reference (accelsim.config.reference) is complete and committed current."""

import typing
from pathlib import Path

import pydantic

from accelsim.config.reference import _sections, config_reference_markdown
from accelsim.config.run import RunConfig

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "config.md"


def _leaf_keys(model, prefix=""):
    for name, field in model.model_fields.items():
        models = [a for a in (field.annotation, *typing.get_args(field.annotation), *[
            b for a in typing.get_args(field.annotation) for b in typing.get_args(a)])
            if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        yield prefix + name
        for m in models[:1]:
            yield from _leaf_keys(m, prefix + name + ".")


def test_every_key_of_every_section_has_a_row_with_type_default_and_unit():
    text = config_reference_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    n_fields = sum(len(model.model_fields) for model, _ in _sections(RunConfig))
    assert len(rows) == n_fields
    assert all(len(r.split(" | ")) == 5 for r in rows)  # key, type, default, unit, description
    for key in ("hardware.clock_hz", "hardware.dram.bandwidth_bytes_per_cycle", "quant.weight_bits"):
        section, leaf = key.rsplit(".", 1)
        assert f"## `{section}`" in text or f"`{section}`," in text
        assert any(r.startswith(f"| `{leaf}` |") for r in rows)
    assert "| `clock_hz` | float | `200000000.0` | Hz |" in text
    assert "| `bandwidth_bytes_per_cycle` | float |" in text and "bytes/cycle" in text
    assert len(set(_leaf_keys(RunConfig))) > 80


def test_committed_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == config_reference_markdown(), (
        "docs/reference/config.md is stale: python -m accelsim.config.reference > docs/reference/config.md")
