"""SCALE-Sim topology CSVs: real files parse, rows match hand-computed shapes and MACs, bad rows fail
with the file and line, and :func:`load_topology` dispatches zoo names and paths."""

from pathlib import Path

import pytest

from accelsim.errors import ConfigError, InputFileError
from accelsim.workloads.topology import read_topology
from accelsim.workloads.load import ZOO_NAMES, load_topology

from tests.shared import SCALESIM as SHARED

V3 = SHARED / "v3" / "topologies"


def _data_rows(path):
    """Non-blank, non-all-empty lines after the header."""
    lines = [l for l in path.read_text(encoding="utf-8-sig").splitlines() if l.strip()]
    return [l for l in lines[1:] if l.replace(",", "").strip()]


REAL_FILES = [
    "conv_nets/Resnet18.csv", "conv_nets/Resnet50.csv", "conv_nets/mobilenet.csv",
    "conv_nets/Googlenet.csv", "conv_nets/alexnet.csv", "conv_nets/yolo_tiny.csv",
    "conv_nets/mobilnet_paper.csv", "conv_nets/UNet_2d.csv", "GEMM_mnk/gpt2.csv",
    "GEMM_mnk/vit_s.csv", "GEMM_mnk/test_mnk_input.csv", "sparsity/conv.csv", "sparsity/gemm.csv",
    "llama/llama3b.csv", "dlrm/dlrm_fwd.csv", "mlperf/NCF_recommendation_short.csv",
    "CSV/DeepBench.csv",
]


@pytest.mark.parametrize("rel", REAL_FILES)
def test_real_files_parse_one_layer_per_row(rel):
    path = V3 / rel
    net = read_topology(path)
    assert len(net.layers) == len(_data_rows(path))
    assert len({l.name for l in net.layers}) == len(net.layers)
    assert net.meta["form"] == ("gemm" if rel.startswith(("GEMM", "sparsity/gemm")) else "conv")


def test_every_shipped_csv_parses_or_fails_cleanly():
    """All 137 SCALE-Sim CSVs: 128 parse; the 9 refused are templates ('B'), multi-network files with
    label rows, a tab-separated file and a row with an unlabelled 9th number (see module doc)."""
    refused = []
    for path in sorted(SHARED.rglob("*.csv")):
        if "layouts" in path.parts:
            continue
        try:
            read_topology(path)
        except InputFileError as exc:
            assert str(exc).startswith(f"{path}:"), exc
            refused.append(path.name)
    assert sorted(refused) == sorted([
        "LSTM.csv", "LSTM_template.csv", "MLPERF.csv", "MLPERF.csv", "NCF_recommendation.csv",
        "Sentimental_seqLSTM.csv", "Sentimental_seqLSTM_short.csv", "Transformer.csv", "UNet_maestro.csv"])


def test_resnet18_rows_by_hand():
    net = read_topology(V3 / "conv_nets/Resnet18.csv")
    conv1 = net.layers[0]            # Conv1,224,224,7,7,3,64,2,
    # SCALE-Sim: OH = ceil((224 - 7 + 2) / 2) = ceil(109.5) = 110
    assert conv1.name == "Conv1" and conv1.op == "conv2d"
    assert conv1.in_shape == (1, 3, 224, 224) and conv1.out_shape == (1, 64, 110, 110)
    assert conv1.padding == (0, 0, 1, 1)     # (110 - 1) * 2 + 7 - 224 = 1
    assert conv1.macs == 110 * 110 * 7 * 7 * 3 * 64 == 113_836_800
    g = conv1.gemm()
    assert (g.M, g.N, g.K) == (12100, 64, 147)
    assert conv1.extra["shape_convention"] == "scalesim"
    row2 = net.layers[1]             # Conv2_1a,56,56,3,3,64,64,1,  -> OH = 54 (no padding field)
    assert row2.out_shape == (1, 64, 54, 54) and row2.padding == (0, 0, 0, 0)
    assert row2.macs == 54 * 54 * 9 * 64 * 64
    assert row2.inputs == ("Conv2_1a.ifmap",) and "Conv2_1a.ifmap" in net.inputs


def test_mobilenet_num_filter_one_rows_are_dense_as_written():
    net = read_topology(V3 / "conv_nets/mobilenet.csv")
    conv2 = net.layer("Conv2")       # Conv2, 112, 112, 3, 3, 32, 1, 1,
    assert conv2.op == "conv2d" and conv2.groups == 1
    assert conv2.out_shape == (1, 1, 110, 110)
    assert conv2.macs == 110 * 110 * 3 * 3 * 32 * 1


def test_gemm_form():
    net = read_topology(V3 / "GEMM_mnk/gpt2.csv")
    qkt = net.layers[0]              # QKT,1024,1024,64,
    # M rows in H (see module doc): in (1, K, M, 1), out (1, N, M, 1)
    assert qkt.op == "gemm" and qkt.in_shape == (1, 64, 1024, 1) and qkt.out_shape == (1, 1024, 1024, 1)
    g = qkt.gemm()
    assert (g.M, g.N, g.K) == (1024, 1024, 64) and qkt.macs == 1024 * 1024 * 64
    # a hardware batch multiplies M instead of replacing it
    g2 = net.with_batch(2).layers[0].gemm()
    assert (g2.M, g2.N, g2.K) == (2048, 1024, 64)


def test_sparsity_and_extra_columns_and_comments():
    conv = read_topology(V3 / "sparsity/conv.csv").layers[0]   # CONV_1, 5,5,3,3,2,6,1, 2:4,
    assert conv.extra["sparsity"] == "2:4" and conv.out_shape == (1, 6, 3, 3)
    gemm = read_topology(V3 / "sparsity/gemm.csv")              # GEMM_1 twice
    assert [l.name for l in gemm.layers] == ["GEMM_1", "GEMM_1#2"]
    assert gemm.layers[1].extra["csv_name"] == "GEMM_1" and gemm.layers[1].extra["sparsity"] == "1:4"
    r50 = read_topology(V3 / "conv_nets/Resnet50.csv")         # extra Eh, Ew, e2 columns
    assert r50.layers[0].extra["csv_Eh"] == "110" and r50.layers[0].out_shape[2] == 110
    dw = read_topology(V3 / "conv_nets/mobilnet_paper.csv").layer("Conv2_dw")   # "...,1,#dw"
    assert dw.extra["csv_comment"] == "dw" and dw.stride == (1, 1)
    llama = read_topology(V3 / "llama/llama3b.csv").layers[0]  # Batch Size column = 1
    assert llama.in_shape == (1, 3, 512, 512)


def test_dp_layer_is_one_depthwise_descriptor(tmp_path):
    f = tmp_path / "dp.csv"
    f.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "Conv2_DP, 114, 114, 3, 3, 32, 1, 2,\n")
    layer = read_topology(f).layers[0]
    # SCALE-Sim runs 32 layers of one channel: OH = ceil((114 - 3 + 2) / 2) = 57, each 57*57 x 9 x 1
    assert layer.op == "depthwise" and layer.groups == 32
    assert layer.out_shape == (1, 32, 57, 57)
    g = layer.gemm()
    assert (g.M, g.N, g.K, g.groups) == (57 * 57, 1, 9, 32)
    assert layer.macs == 32 * (57 * 57 * 9 * 1)
    assert layer.extra["scalesim_expanded_layers"] == 32


def test_batch_multiplies_n_and_gemm_m(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("Layer, M, N, K,\nfc, 10, 20, 30,\n")
    layer = read_topology(f, batch=3).layers[0]
    assert layer.gemm().M == 30 and layer.macs == 30 * 20 * 30


def test_tolerated_quirks(tmp_path):
    f = tmp_path / "q.csv"
    f.write_text("\ufeffLayer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                 "Num Filter, Strides,\n\n,,,,,,,,\nA, 8, 8, 3, 3, 4, 5, 1\nB,9,9,1,1,2,2,3,\n")
    net = read_topology(f)
    assert [l.name for l in net.layers] == ["A", "B"]
    assert net.layers[0].out_shape == (1, 5, 6, 6)
    assert net.layers[1].out_shape == (1, 2, 4, 4)   # ceil((9 - 1 + 3) / 3) = ceil(3.67) = 4
    assert net.layers[1].padding == (0, 0, 1, 1)     # (4 - 1) * 3 + 1 - 9 = 1


CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


@pytest.mark.parametrize("row, match", [
    ("C1, 8, 8, 3, 3, 4,\n", r"bad\.csv:3: wrong field count: 6 fields, expected 8"),
    ("C1, 8, 8, 3, 3, 4, 5, 1, 1:2, 7,\n", r"bad\.csv:3: wrong field count: 10 fields but the header has 8"),
    ("C1, 8, x, 3, 3, 4, 5, 1,\n", r"bad\.csv:3: column 'IFMAP Width' must be a positive integer, got 'x'"),
    ("C1, 8, 8, 3, 3, 4, 5, 1.5,\n", r"bad\.csv:3: column 'Strides' must be a positive integer, got '1\.5'"),
    ("C1, 8, 8, 3, 3, 0, 5, 1,\n", r"bad\.csv:3: column 'Channels' must be a positive integer \(>= 1\), got 0"),
    ("C1, 8, 8, 3, 3, 4, -2, 1,\n", r"bad\.csv:3: column 'Num Filter' must be a positive integer \(>= 1\), got -2"),
    ("C1, 8, 8, 9, 3, 4, 5, 1,\n", r"bad\.csv:3: filter 9x3 is larger than the IFMAP 8x8"),
    ("C1, 8, 8, 3, 3, 4, 5, 1, 3:2,\n", r"bad\.csv:3: column 'Sparsity' must be N:M with integers 1 <= N <= M"),
    (", 8, 8, 3, 3, 4, 5, 1,\n", r"bad\.csv:3: empty layer name"),
])
def test_bad_conv_rows_name_file_and_line(tmp_path, row, match):
    f = tmp_path / "bad.csv"
    f.write_text(CONV_HEADER + "ok, 8, 8, 3, 3, 4, 5, 1,\n" + row)
    with pytest.raises(InputFileError, match=match):
        read_topology(f)


@pytest.mark.parametrize("text, match", [
    ("Layer, M, N, K,\nfc, 10, 20,\n", r"bad\.csv:2: wrong field count: 3 fields, expected 4"),
    ("Layer, M, N, K,\nfc, 10, 0, 4,\n", r"bad\.csv:2: column 'N' must be a positive integer"),
    ("Layer\tM\tN\tK\nfc\t1\t2\t3\n", r"bad\.csv:1: header .* is not a SCALE-Sim topology header \(fields must be separated by commas\)"),
    ("", r"bad\.csv: empty topology file"),
    ("Layer, M, N, K,\n\n", r"bad\.csv: no layer rows after the header"),
])
def test_bad_files(tmp_path, text, match):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(InputFileError, match=match):
        read_topology(f)


def test_missing_file_and_bad_form(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.csv: topology file not found"):
        read_topology(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match=r"form must be one of auto, conv, gemm, got 'mnk'"):
        read_topology(tmp_path / "nope.csv", form="mnk")


def test_forced_gemm_form_reads_conv_header_file_as_mnk(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("anything,\nL1, 4, 5, 6,\n")
    with pytest.raises(InputFileError, match="not a SCALE-Sim topology header"):
        read_topology(f)
    assert read_topology(f, form="gemm").layers[0].gemm().K == 6


def test_load_topology_dispatch(tmp_path):
    assert load_topology("ResNet-18").name == "resnet18"
    assert load_topology("mobilenet_v2", batch=2).layers[0].in_shape[0] == 2
    f = tmp_path / "t.csv"
    f.write_text("Layer, M, N, K,\nfc, 10, 20, 30,\n")
    assert load_topology(str(f)).layers[0].macs == 6000
    assert set(ZOO_NAMES) == {"alexnet", "vgg16", "googlenet", "resnet18", "resnet50",
                              "mobilenet_v1", "mobilenet_v2"}
    with pytest.raises(ConfigError, match=r"unknown topology: 'resnet19'.*zoo name \(alexnet, vgg16, "
                                          r"googlenet, resnet18, resnet50, mobilenet_v1, mobilenet_v2\)"):
        load_topology("resnet19")
    with pytest.raises(ConfigError, match=r"topology file not found: 'missing/x\.csv'"):
        load_topology("missing/x.csv")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v1", "alexnet", "googlenet"])
def test_zoo_exported_for_scalesim_keeps_every_gemm(tmp_path, name):
    from accelsim.workloads.topology import write_topology
    from accelsim.workloads.zoo import ZOO

    net = ZOO[name]()
    mapping = write_topology(net, tmp_path / "t.csv")
    back = read_topology(tmp_path / "t.csv")
    array_layers = [l for l in net.layers if l.on_array]
    assert [m[0] for m in mapping] == [l.name for l in array_layers]
    assert back.macs == net.macs           # zoo MACs are checked against published figures
    rows = iter(back.layers)
    for layer, (_, n_rows) in zip(array_layers, mapping):
        g = layer.gemm()
        if layer.op == "depthwise":        # one DP row, expanded by SCALE-Sim into C rows
            r = next(rows)
            assert r.op == "depthwise" and r.extra["scalesim_expanded_layers"] == n_rows
            assert r.gemm() == g
        else:                              # one row per group
            parts = [next(rows).gemm() for _ in range(n_rows)]
            assert all((p.M, p.N, p.K, p.groups) == (g.M, g.N, g.K, 1) for p in parts)
            assert len(parts) == g.groups
    assert next(rows, None) is None
