"""Data set loaders (.npz, IDX, image folder), preprocessing and their one-line errors.

References: IDX bytes written by hand with ``struct``; the published first Fashion-MNIST test labels;
preprocessing formulas written out in numpy here; Pillow for writing test images."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from accelsim.config.base import parse_model
from accelsim.config.data import DataConfig, DatasetConfig, PreprocessConfig
from accelsim.errors import ConfigError, InputFileError
from accelsim.datasets.readers import open_dataset, read_idx
from accelsim.graph.inputs import check_sample_shape

from tests.graph.conftest import DATA

FMNIST = DATA / "fashion-mnist-t10k-100"


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}[arr.dtype.type]
    big = arr.astype(arr.dtype.newbyteorder(">"))
    return bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape) + big.tobytes()


def test_read_idx_hand_written_plain_and_gzipped(tmp_path):
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    for name in ("a.idx", "a.idx.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == np.int32 and np.array_equal(got, arr)


def test_fashion_mnist_idx_with_labels_found_beside():
    ds = open_dataset(str(FMNIST / "t10k-images-idx3-ubyte.gz"))
    assert len(ds) == 100 and ds.sample_shape == (1, 28, 28)
    # published: the first five test items are ankle boot, pullover, trouser, trouser, shirt
    assert ds.labels[:5].tolist() == [9, 2, 1, 1, 6]
    # raw bytes of image 0 straight from the file (header 16 bytes), preprocessed by hand: x/255
    raw = np.frombuffer(gzip.decompress((FMNIST / "t10k-images-idx3-ubyte.gz").read_bytes())[16:16 + 784], np.uint8)
    x, y = ds.get([0])
    assert np.allclose(x[0, 0], raw.reshape(28, 28) / 255.0, atol=1e-7) and y.tolist() == [9]


def test_npz_images_preprocessed_mean_std_nchw(mnist_images):
    images, labels = mnist_images
    cfg = DatasetConfig(path=str(DATA / "mnist_train_subset_1k.npz"), limit=300,
                        preprocess=PreprocessConfig(mean=(0.1307,), std=(0.3081,)))
    ds = open_dataset(cfg, model_input_shape=(1, 1, 28, 28))
    assert len(ds) == 300
    batches = list(ds.batches(128))
    assert [len(b[0]) for b in batches] == [128, 128, 44]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    ref = ((images[:300].astype(np.float64) / 255.0 - 0.1307) / 0.3081)[:, None]
    assert x.dtype == np.float32 and np.allclose(x, ref, atol=1e-5)
    assert np.array_equal(y, labels[:300]) and y.dtype == np.int64


def test_npz_x_used_as_is_and_take_is_deterministic(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 3, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(50))
    ds = open_dataset(str(tmp_path / "c.npz"), model_input_shape=(1, 3, 4, 4))
    xb, yb = ds.take(20, seed=11)
    idx = np.sort(np.random.default_rng(11).choice(50, size=20, replace=False))
    assert np.array_equal(xb, x[idx]) and np.array_equal(yb, idx)
    assert np.array_equal(ds.take(20, seed=11)[0], xb)
    assert not np.array_equal(ds.take(20, seed=12)[1], yb)
    assert len(ds.take(500, seed=0)[0]) == 50  # fewer samples than asked: all of them


def _write_folder(root, sizes=((6, 5), (6, 5))):
    rng = np.random.default_rng(0)
    pix = {}
    for cls, (h, w), mode in zip(["zebra", "ant"], sizes, ["RGB", "L"]):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(arr, mode).save(root / cls / f"img{k}.png")
            pix[(cls, k)] = arr
    return pix


def test_image_folder_sorted_classes_grey_to_rgb_and_bgr(tmp_path):
    pix = _write_folder(tmp_path / "imgs")
    pp = PreprocessConfig(scale=1.0, channel_order="bgr", mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 4.0))
    ds = open_dataset(DatasetConfig(path=str(tmp_path / "imgs"), preprocess=pp), model_input_shape=(1, 3, 6, 5))
    assert ds.class_names == ["ant", "zebra"] and ds.labels.tolist() == [0, 0, 1, 1]
    x, y = ds.get([0, 2])
    grey = pix[("ant", 0)].astype(np.float64)
    ref_grey = (np.stack([grey] * 3) - np.array([1.0, 2.0, 3.0])[:, None, None]) / np.array([2.0, 2.0, 4.0])[:, None, None]
    assert np.allclose(x[0], ref_grey)
    rgb = pix[("zebra", 0)].astype(np.float64)[..., ::-1].transpose(2, 0, 1)  # BGR, CHW
    assert np.allclose(x[1], (rgb - np.array([1.0, 2.0, 3.0])[:, None, None]) / np.array([2.0, 2.0, 4.0])[:, None, None])


def test_rgb_to_grey_luma_and_nhwc_layout(tmp_path):
    pix = _write_folder(tmp_path / "imgs")
    ds = open_dataset(DatasetConfig(path=str(tmp_path / "imgs"),
                                    preprocess=PreprocessConfig(scale=1.0, layout="nhwc", channels=1)))
    x, _ = ds.get([2])
    r, g, b = (pix[("zebra", 0)][..., k].astype(np.float64) for k in range(3))
    assert x.shape == (1, 6, 5, 1)
    assert np.allclose(x[0, ..., 0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-4)


def test_resize_and_center_crop(tmp_path):
    _write_folder(tmp_path / "imgs", sizes=((6, 5), (9, 4)))
    with pytest.raises(InputFileError, match=r"images differ in size .*set preprocess.resize"):
        open_dataset(str(tmp_path / "imgs")).get([0, 2])
    pp = PreprocessConfig(resize=(8, 8), center_crop=(4, 6), channels=3)
    ds = open_dataset(DatasetConfig(path=str(tmp_path / "imgs"), preprocess=pp))
    assert ds.get([0, 1, 2, 3])[0].shape == (4, 3, 4, 6)
    # a constant image stays constant under bilinear resizing; crop by hand on a ramp
    const = tmp_path / "const" / "c"
    const.mkdir(parents=True)
    Image.fromarray(np.full((5, 7), 200, np.uint8), "L").save(const / "a.png")
    x, _ = open_dataset(DatasetConfig(path=str(tmp_path / "const"), preprocess=PreprocessConfig(resize=(11, 3)))).get([0])
    assert x.shape == (1, 1, 11, 3) and np.allclose(x, 200 / 255.0, atol=1e-6)
    ramp = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8)
    np.savez(tmp_path / "r.npz", images=ramp[None], labels=np.array([3]))
    x, y = open_dataset(DatasetConfig(path=str(tmp_path / "r.npz"),
                                      preprocess=PreprocessConfig(scale=1.0, center_crop=(2, 4)))).get([0])
    assert np.array_equal(x[0, 0], ramp[2:4, 2:6]) and y.tolist() == [3]


def test_svhn_samples_folder_flat_unlabelled():
    pp = PreprocessConfig(resize=(32, 32))
    ds = open_dataset(DatasetConfig(path=str(DATA / "ccexam_samples"), preprocess=pp), model_input_shape=(1, 3, 32, 32))
    assert len(ds) == 11 and ds.labels is None and ds.sample_shape == (3, 32, 32)


# ------------------------------------------------------------------------------------- errors


def test_missing_file_and_wrong_format(tmp_path):
    with pytest.raises(InputFileError, match="nope.npz: data file not found"):
        open_dataset(str(tmp_path / "nope.npz"))
    (tmp_path / "notes.txt").write_text("hello world, not pixels")
    with pytest.raises(InputFileError, match=r"notes.txt: not an IDX file \(magic bytes 68656c6c"):
        open_dataset(str(tmp_path / "notes.txt"))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(InputFileError, match="bad.npz: not a readable .npz file"):
        open_dataset(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "k.npz", pixels=np.zeros((2, 3, 3)))
    with pytest.raises(InputFileError, match=r"k.npz: .npz holds keys \['pixels'\]; expected 'x'"):
        open_dataset(str(tmp_path / "k.npz"))
    np.savez(tmp_path / "o.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputFileError, match="o.npz: .npz holds an array that needs pickle, refused"):
        open_dataset(str(tmp_path / "o.npz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="empty: no images found"):
        open_dataset(str(tmp_path / "empty"))


def test_truncated_idx(tmp_path):
    data = _idx_bytes(np.zeros((4, 5, 5), np.uint8))
    (tmp_path / "t-images-idx3-ubyte").write_bytes(data[:-10])
    with pytest.raises(InputFileError, match=r"IDX data truncated \(90 bytes, header \(4, 5, 5\) needs 100; or the rank byte"):
        open_dataset(str(tmp_path / "t-images-idx3-ubyte"))


def test_nan_inf_rejected(tmp_path):
    x = np.zeros((5, 1, 2, 2), np.float32)
    x[3, 0, 1, 1] = np.inf
    np.savez(tmp_path / "n.npz", x=x)
    ds = open_dataset(str(tmp_path / "n.npz"))
    with pytest.raises(InputFileError, match="n.npz: sample 3 holds NaN or Inf values"):
        list(ds.batches(2))
    x[0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "n0.npz", x=x)
    with pytest.raises(InputFileError, match="n0.npz: sample 0 holds NaN or Inf values"):
        open_dataset(str(tmp_path / "n0.npz"))


def test_labels_count_mismatch(tmp_path):
    np.savez(tmp_path / "l.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.zeros(3, np.uint8))
    with pytest.raises(InputFileError, match="l.npz: 3 labels for 4 images"):
        open_dataset(str(tmp_path / "l.npz"))
    (tmp_path / "a-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((4, 2, 2), np.uint8)))
    (tmp_path / "a-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(InputFileError, match="a-labels-idx1-ubyte: 5 labels for 4 images"):
        open_dataset(str(tmp_path / "a-images-idx3-ubyte"))


def test_shape_mismatch_against_model():
    with pytest.raises(InputFileError, match=r"x.npz: data samples have shape \(1, 28, 28\), the model input "
                                             r"expects \(3, 28, 28\) .*set preprocess.channels"):
        check_sample_shape((8, 1, 28, 28), (1, 3, 28, 28), "x.npz")
    check_sample_shape((8, 3, 32, 32), (1, 3, 32, 32), "ok")
    with pytest.raises(InputFileError, match=r"mnist_train_subset_1k.npz: data samples have shape \(1, 28, 28\), "
                                             r"the model input expects \(1, 32, 32\).*resize"):
        open_dataset(str(DATA / "mnist_train_subset_1k.npz"), model_input_shape=(1, 1, 32, 32))


def test_mean_length_and_config_errors(tmp_path):
    np.savez(tmp_path / "g.npz", images=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"preprocess.mean has 2 values for 1 channels \(valid: 1 or 1\)"):
        open_dataset(DatasetConfig(path=str(tmp_path / "g.npz"), preprocess=PreprocessConfig(mean=(0.1, 0.2))))
    with pytest.raises(ConfigError, match=r"run.yaml: test.preprocess.std: every std must be > 0"):
        parse_model(DataConfig, {"test": {"path": "a", "preprocess": {"std": [0.0]}}}, "run.yaml")
    with pytest.raises(ConfigError, match=r"run.yaml: test.preprocess.colour: unknown key"):
        parse_model(DataConfig, {"test": {"path": "a", "preprocess": {"colour": "rgb"}}}, "run.yaml")


def test_bundled_sets_take_the_bundled_model_preprocessing():
    import json
    from importlib.resources import files

    data = files("accelsim") / "data"
    meta = json.loads((data / "default_model.json").read_text())["preprocessing"]
    ds = open_dataset(DatasetConfig(path="bundled"), model_input_shape=(1, 1, 28, 28), split="calib")
    raw = np.load(str(data / "fashion_mnist_calib_512.npz"), allow_pickle=False)
    assert len(ds) == len(raw["images"]) == 512
    x, y = ds.take(64, seed=0)
    idx = np.sort(np.random.default_rng(0).choice(512, size=64, replace=False))
    ref = (raw["images"][idx].astype(np.float64) * meta["scale"] - meta["mean"][0]) / meta["std"][0]
    assert np.allclose(x[:, 0], ref, atol=1e-5) and np.array_equal(y, raw["labels"][idx])
    with pytest.raises(ConfigError, match="bundled data: unknown split 'train'"):
        open_dataset(DatasetConfig(path="bundled"), split="train")


def test_raw_image_layouts_in_npz(tmp_path):
    rng = np.random.default_rng(1)
    nchw = rng.integers(0, 256, (3, 3, 5, 6), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=nchw)  # last axis 6: read as NCHW
    np.savez(tmp_path / "b.npz", images=nchw.transpose(0, 2, 3, 1))  # last axis 3: read as NHWC
    pp = PreprocessConfig(scale=1.0)
    for name in ("a.npz", "b.npz"):
        x, y = open_dataset(DatasetConfig(path=str(tmp_path / name), preprocess=pp)).get([0, 2])
        assert np.array_equal(x, nchw[[0, 2]].astype(np.float32)) and y is None
    # a 3x3 image is ambiguous: image_layout says which
    sq = rng.integers(0, 256, (2, 3, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", images=sq)
    x, _ = open_dataset(DatasetConfig(path=str(tmp_path / "c.npz"), image_layout="nchw", preprocess=pp)).get([1])
    assert np.array_equal(x[0], sq[1].astype(np.float32))


# ----------------------------------------------------------------- faults: ImageFolder, IDX, NaN, clamps


def _png(path, value, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8), "L").save(path)


def _classes(root, counts):
    """One sub-folder per class name, *counts[name]* grey images each (pixel value = class position)."""
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _png(root / name / f"{i}.png", 10 * k)


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    _classes(tmp_path / "imgs", {"cat": 2, "dog": 0, "eel": 3})
    with pytest.raises(InputFileError, match=r"imgs: class folder 'dog' holds no images .* allow_empty_classes: true"):
        open_dataset(str(tmp_path / "imgs"))


def test_allowed_empty_class_keeps_its_id_so_later_classes_do_not_shift(tmp_path):
    # ImageFolder numbering written out by hand: sorted names cat=0, dog=1, eel=2
    _classes(tmp_path / "imgs", {"cat": 2, "dog": 0, "eel": 3})
    ds = open_dataset(DatasetConfig(path=str(tmp_path / "imgs"), allow_empty_classes=True))
    assert ds.class_names == ["cat", "dog", "eel"]
    assert ds.labels.tolist() == [0, 0, 2, 2, 2]


def test_image_folder_rules_match_torchvision(tmp_path):
    """Nested files count for their class, suffixes in any case, other files ignored, hidden folders are classes."""
    root = tmp_path / "imgs"
    _png(root / "b" / "deep" / "x.PNG", 1)
    _png(root / "b" / "a.png", 1)
    (root / "b" / "notes.txt").write_text("not an image")
    _png(root / "a" / "z.jpg.png", 0)
    _png(root / ".hidden" / "h.png", 2)
    ds = open_dataset(str(root))
    assert ds.class_names == [".hidden", "a", "b"]
    assert ds.labels.tolist() == [0, 1, 2, 2]
    assert [p.name for p in ds._paths] == ["h.png", "z.jpg.png", "a.png", "x.PNG"]  # os.walk order: b/ then b/deep/


def test_idx_wrong_rank_byte_names_the_header(tmp_path):
    data = bytearray(_idx_bytes(np.ones((30, 28, 28), np.uint8)))
    data[3] = 4  # rank 4: the first four pixels are read as a fourth dimension (here 1 1 1 1 -> 16843009)
    (tmp_path / "r-images-idx3-ubyte").write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"IDX data truncated \(23516 bytes, header \(30, 28, 28, 16843009\) "
                                             r"needs 396147571680; or the rank byte \(byte 4\) = 4 is wrong\)"):
        open_dataset(str(tmp_path / "r-images-idx3-ubyte"))
    zeros = bytearray(_idx_bytes(np.zeros((30, 28, 28), np.uint8)))
    zeros[3] = 4  # the case: a zero fourth dimension made a (30, 28, 28, 0) array
    (tmp_path / "z-images-idx3-ubyte").write_bytes(bytes(zeros))
    with pytest.raises(InputFileError, match=r"dimensions \(30, 28, 28, 0\) = 0 data bytes, but 23516 follow"):
        read_idx(tmp_path / "z-images-idx3-ubyte")


def test_nan_in_an_image_file_names_the_file(tmp_path):
    root = tmp_path / "imgs"
    _classes(root, {"a": 2, "b": 1})
    img = np.zeros((4, 4), np.float32)
    img[1, 2] = np.nan
    Image.fromarray(img, "F").save(root / "b" / "bad.tif")  # a float TIFF may hold NaN
    ds = open_dataset(str(root))
    with pytest.raises(InputFileError, match=r"b/bad.tif: sample 3 of .*imgs holds NaN or Inf values after preprocessing"):
        list(ds.batches(8))


def test_sixteen_bit_images_keep_their_values(tmp_path):
    Image.fromarray(np.full((3, 3), 40000, np.uint16)).save(tmp_path / "w.png")
    x, _ = open_dataset(DatasetConfig(path=str(tmp_path), preprocess=PreprocessConfig(scale=1.0))).get([0])
    assert np.all(x == 40000.0)  # not clipped to 255 by a conversion to 8-bit grey


def test_calibration_batch_warns_about_clamps(tmp_path):
    from accelsim.datasets.readers import calibration_batch
    from accelsim.errors import AccelsimWarning

    np.savez(tmp_path / "c.npz", x=np.zeros((5, 1, 2, 2), np.float32))
    ds = open_dataset(str(tmp_path / "c.npz"))
    with pytest.warns(AccelsimWarning, match=r"64 images requested \(quant.calib_batch\), .*c.npz holds 5; "
                                             r"calibrating on all 5"):
        x, lines = calibration_batch(ds, 64, seed=0)
    assert len(x) == 5 and len(lines) == 2  # clamped, and 5 < FEW_CALIBRATION_IMAGES
    with pytest.warns(AccelsimWarning, match="only 1 image; thresholds from fewer than 8"):
        x, lines = calibration_batch(ds, 1, seed=0)
    assert len(x) == 1 and len(lines) == 1


def test_labels_outside_the_model_outputs(tmp_path):
    from accelsim.datasets.readers import check_label_range

    _classes(tmp_path / "imgs", {"a": 1, "b": 1, "c": 2})
    ds = open_dataset(str(tmp_path / "imgs"))
    check_label_range(ds.labels, 3, ds)
    with pytest.raises(InputFileError, match=r"imgs: label 2 at sample 2 \(class folder 'c' of 3\) is outside the "
                                             r"model's 2 output classes \(valid: 0-1\); 2 labels out of range"):
        check_label_range(ds.labels, 2, ds)
