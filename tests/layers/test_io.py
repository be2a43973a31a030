"""Descriptor files round-trip, and bad files fail with a named error."""

import json

import numpy as np
import pytest

from accelsim.errors import InputFileError, SchemaVersionError
from accelsim.layers import LayerDescriptor, Network, QuantParams, read_network, write_network


def _net():
    q = QuantParams(in_thresholds=(2.0,), in_steps=(2.0 / 127,), out_threshold=4.0,
                    out_step=4.0 / 127, out_min=0, out_max=127, overflow="wrap")
    conv = LayerDescriptor(name="c1", op="conv2d", inputs=("x",), output="y",
                           in_shape=(1, 3, 8, 8), out_shape=(1, 4, 8, 8), kernel=(3, 3),
                           padding=(1, 1, 1, 1), activation="relu", quant=q,
                           extra={"onnx_node": "Conv_0"})
    rng = np.random.default_rng(0)
    tensors = {conv.key("weight"): rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8),
               conv.key("bias"): np.arange(4, dtype=np.int32),
               conv.key("pre_shift"): np.zeros(4, np.int8), conv.key("scale"): np.full(4, 100, np.uint8),
               conv.key("post_shift"): np.full(4, 9, np.int8)}
    return Network(name="tiny", layers=(conv,), inputs=("x",), outputs=("y",), tensors=tensors,
                   input_quant={"x": (2.0, 2.0 / 127, 8)}, meta={"method": "kl-j"})


def test_round_trip_is_exact(tmp_path):
    net = _net()
    back = read_network(write_network(net, tmp_path))
    assert back.layers == net.layers
    assert back.inputs == net.inputs and back.outputs == net.outputs
    assert back.input_quant == net.input_quant and back.meta == net.meta
    assert set(back.tensors) == set(net.tensors)
    for k, v in net.tensors.items():
        assert back.tensors[k].dtype == v.dtype and np.array_equal(back.tensors[k], v)


def test_readable_with_json_and_numpy_only(tmp_path):
    write_network(_net(), tmp_path)
    header = json.loads((tmp_path / "descriptors.json").read_text())
    assert header["layers"][0]["kernel"] == [3, 3]
    with np.load(tmp_path / "tensors.npz", allow_pickle=False) as npz:
        assert npz["c1.weight"].shape == (4, 3, 3, 3)


def test_gemm_view_of_conv_depthwise_and_fc():
    conv = LayerDescriptor(name="c", op="conv2d", inputs=("x",), output="y", in_shape=(2, 16, 9, 9),
                           out_shape=(2, 32, 4, 4), kernel=(3, 3), stride=(2, 2))
    g = conv.gemm()
    assert (g.M, g.N, g.K, g.groups) == (2 * 16, 32, 16 * 9, 1)
    assert conv.macs == 2 * 16 * 32 * 16 * 9
    dw = LayerDescriptor(name="d", op="depthwise", inputs=("x",), output="y", in_shape=(1, 8, 5, 5),
                         out_shape=(1, 8, 5, 5), kernel=(3, 3), padding=(1, 1, 1, 1), groups=8)
    g = dw.gemm()
    assert (g.M, g.N, g.K, g.groups) == (25, 1, 9, 8) and dw.macs == 25 * 9 * 8
    fc = LayerDescriptor(name="f", op="gemm", inputs=("x",), output="y", in_shape=(4, 100, 1, 1),
                         out_shape=(4, 10, 1, 1))
    g = fc.gemm()
    assert (g.M, g.N, g.K) == (4, 10, 100)


def test_newer_schema_is_refused(tmp_path):
    write_network(_net(), tmp_path)
    p = tmp_path / "descriptors.json"
    h = json.loads(p.read_text()); h["schema_version"] = 99; p.write_text(json.dumps(h))
    with pytest.raises(SchemaVersionError, match="schema_version 99 is newer"):
        read_network(tmp_path)


def test_missing_array_is_named(tmp_path):
    net = _net()
    t = dict(net.tensors); del t["c1.scale"]
    write_network(Network(**{**net.__dict__, "tensors": t}), tmp_path)
    with pytest.raises(InputFileError, match=r"'c1.scale' of layer 'c1' is missing"):
        read_network(tmp_path)


def test_missing_folder_and_corrupt_json(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        read_network(tmp_path / "nope")
    (tmp_path / "descriptors.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not a valid descriptor file"):
        read_network(tmp_path)


def test_pair_torn_by_a_crash_is_refused(tmp_path):
    """New arrays with an old header (a kill between the two renames) must not be read as one network."""
    old, new = tmp_path / "old", tmp_path / "new"
    write_network(_net(), old)
    net = _net()
    bias_key = net.layers[0].key("bias")
    write_network(Network(name=net.name, layers=net.layers, inputs=net.inputs, outputs=net.outputs,
                          tensors={**net.tensors, bias_key: net.tensors[bias_key] + 1},
                          input_quant=net.input_quant, meta=net.meta), new)
    (old / "tensors.npz").write_bytes((new / "tensors.npz").read_bytes())
    with pytest.raises(InputFileError, match="belongs to another write than descriptors.json"):
        read_network(old)


def test_same_network_writes_the_same_bytes(tmp_path):
    """The pairing id is a digest of the content, not a random number: outputs are reproducible."""
    a, b = write_network(_net(), tmp_path / "a"), write_network(_net(), tmp_path / "b")
    for name in ("descriptors.json", "tensors.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_failed_write_leaves_previous_files(tmp_path, monkeypatch):
    import errno

    from accelsim import atomic
    from accelsim.errors import OutputFileError

    write_network(_net(), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OutputFileError, match="tensors.npz: No space left on device"):
        write_network(_net(), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
