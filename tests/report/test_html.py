"""The report folder and HTML page, built from a real (stand-in point) sweep store."""

import base64
import csv
import re
from html.parser import HTMLParser

import pytest

from accelsim.cli import main
from accelsim.errors import SchemaVersionError
from accelsim.report import build_report, load_points
from accelsim.report.figures import accuracy_figure, layers_figure, log_axes, pareto_figure
from accelsim.report.points import ReportPoint
from accelsim.sweep import SerialExecutor, run_sweep, sweep_from_dict


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    sw = sweep_from_dict({"name": "rep", "axes": [
        {"quant.weight_bits": [4, 8]}, {"quant.act_bits": [4, 16]},
        {"hardware.array.rows": [4, 64], "hardware.array.cols": [4, 64]}]})
    run_sweep(sw, d, SerialExecutor(), point_fn="tests.sweep.points:failing_point", progress=False)
    return d


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.rows, self.scripts_src, self.links = [], 0, [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if tag == "tr":
            self.rows += 1
        if tag == "script" and "src" in a:
            self.scripts_src.append(a["src"])
        if tag == "link":
            self.links.append(a)


def test_report_folder_has_every_figure_table_and_a_self_contained_page(store, tmp_path):
    pts = load_points(store)
    assert len(pts) == 8 and sum(p.ok for p in pts) == 4
    page = build_report(pts, tmp_path / "rep", title="t")
    for stem in ("pareto", "power", "accuracy", "breakdown", "layers"):
        assert (tmp_path / "rep" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    p = _Collect()
    p.feed(text)
    assert len(p.imgs) == 5
    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert p.scripts_src == [] and p.links == [] and not re.search(r"https?://", text)
    assert "ValueError: 4-bit weights refused by this test" in text
    rows = list(csv.DictReader(open(tmp_path / "rep" / "points.csv")))
    assert len(rows) == 8
    numbered = sorted(int(r["pareto"]) for r in rows if r["pareto"])
    assert numbered == list(range(1, len(numbered) + 1))
    # points table + the numbered front table (none here: every stand-in point loses > 1 point of top-1)
    assert p.rows == (1 + 8) + (1 + len(numbered) if numbered else 0)
    assert not numbered and "No point is eligible for the Pareto front" in text
    ok = [r for r in rows if r["status"] == "ok"]
    # w8 a16 on 64x64: 1e6 MACs -> ceil(1e6/4096) = 245 compute + 1000 stall cycles
    r = next(r for r in ok if r["quant.act_bits"] == "16" and r["hardware.array.rows"] == "64")
    assert float(r["total cycles"]) == 1245
    assert float(r["latency (ms)"]) == pytest.approx(1245 / 200e6 * 1e3)


def test_cli_report_writes_page(store, tmp_path, capsys):
    assert main(["report", str(store), "-o", str(tmp_path / "r"), "--point", "1"]) == 0
    assert "8 points (4 ok)" in capsys.readouterr().out
    assert (tmp_path / "r" / "index.html").is_file()


def test_cli_report_power_budget_and_styling_axes(store, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(store), "-o", str(out), "--max-power", "1e-9", "--color", "hardware.array.rows",
                 "--facet", "quant.act_bits"]) == 0
    rows = list(csv.DictReader(open(out / "points.csv")))
    assert all(r["pareto"] == "" for r in rows)   # every point is above a 1 pW budget: no front
    assert (out / "power.png").is_file()
    assert main(["report", str(store), "-o", str(out), "--color", "hardware.dataflw"]) == 2
    assert "--color hardware.dataflw: no point has this setting" in capsys.readouterr().err
    assert main(["report", str(store), "-o", str(out), "--max-power", "0"]) == 2


def test_cli_report_refuses_incompatible_store(store, tmp_path, capsys):
    import json
    import shutil

    bad = tmp_path / "old"
    shutil.copytree(store, bad)
    meta = json.loads((bad / "store.json").read_text())
    meta["schema_version"] = 0
    (bad / "store.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError):
        load_points(bad)
    assert main(["report", str(bad), "-o", str(tmp_path / "r")]) == 2
    assert "schema_version 0" in capsys.readouterr().err


def _p(i, thr, e, **res):
    return ReportPoint(key=f"{i:064x}", index=i, status="ok", overrides={"quant.weight_bits": 8},
                       config={"quant": {"weight_bits": 8, "act_bits": 8}},
                       result={"inferences_per_s": thr, "energy_per_inference_uj": e, **res})


def test_log_scale_only_when_data_span_more_than_a_decade():
    assert log_axes(pareto_figure([_p(0, 100, 1.0), _p(1, 5000, 2.0)])) == [("log", "linear")]
    assert log_axes(pareto_figure([_p(0, 100, 1.0), _p(1, 900, 200.0)])) == [("linear", "log")]


def test_missing_accuracy_says_so_instead_of_drawing():
    fig = accuracy_figure([_p(0, 1, 1)])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("accuracy not measured" in t for t in texts)


def test_layers_figure_units_and_bars():
    pt = _p(0, 1, 1, total_cycles=300, stall_cycles=100, layers=[
        {"name": "c1", "utilization": 0.5, "compute_cycles": 100, "stall_cycles": 50},
        {"name": "c2", "utilization": 1.0, "compute_cycles": 100, "stall_cycles": 50}])
    fig = layers_figure(pt)
    ax_u, ax_c = fig.axes
    assert ax_u.get_ylabel() == "array utilization (%)" and ax_c.get_ylabel() == "cycles per inference"
    assert [b.get_height() for b in ax_u.patches] == [50.0, 100.0]
    assert "33.3 % stalled" in fig._suptitle.get_text()


def test_inline_sort_script_orders_numbers_numerically_and_blanks_last(tmp_path):
    import json as _json
    import shutil
    import subprocess

    from accelsim.report.html import _SORT_JS

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed, so the page's inline sort script cannot be run outside a browser")
    values = ["10", "9", "", "100", "-1"]
    harness = """
var rows = %s.map(function (v) { return {cells: [{getAttribute: function () { return v; }}], v: v}; });
var body = {rows: rows.slice(), appendChild: function (r) {
  this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); }};
function Th() { this.attrs = {}; }
Th.prototype.addEventListener = function (e, f) { this.click = f; };
Th.prototype.getAttribute = function (n) { return this.attrs[n] === undefined ? null : this.attrs[n]; };
Th.prototype.setAttribute = function (n, v) { this.attrs[n] = v; };
Th.prototype.removeAttribute = function (n) { delete this.attrs[n]; };
var th = new Th();
var table = {tBodies: [body], querySelectorAll: function () { return [th]; }};
var document = {querySelectorAll: function () { return [table]; }};
%s
th.click(); var up = body.rows.map(function (r) { return r.v; });
th.click(); var down = body.rows.map(function (r) { return r.v; });
console.log(JSON.stringify([up, down]));
""" % (_json.dumps(values), _SORT_JS)
    (tmp_path / "h.js").write_text(harness)
    out = subprocess.run([node, str(tmp_path / "h.js")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    up, down = _json.loads(out.stdout)
    assert up == ["-1", "9", "10", "100", ""]
    assert down == ["100", "10", "9", "-1", ""]


def test_the_page_names_its_source_relative_to_the_report_never_by_absolute_path(tmp_path):
    from accelsim.report.html import source_label

    (tmp_path / "results" / "bw").mkdir(parents=True)
    out = tmp_path / "reports" / "bw"
    assert source_label(str(tmp_path / "results" / "bw"), out) == "../../results/bw"
    assert source_label("/elsewhere/entirely/deep/down/sweep2", out) == "sweep2"
    assert source_label("", out) == ""
