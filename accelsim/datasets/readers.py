"""Data sets as users have them, read without pickle, preprocessed into model input batches.

Formats (``DatasetConfig.format``, ``auto`` picks by path):

- ``.npz`` (``np.load(..., allow_pickle=False)``): either ``x`` — float32, already preprocessed,
  used exactly as stored (no preprocessing at all) — or ``images`` — raw pixels ``[N,H,W]`` (grey),
  ``[N,H,W,C]`` or ``[N,C,H,W]`` — preprocessed here. Labels from ``labels`` or ``y`` when present.
- IDX (the MNIST / Fashion-MNIST format, gzipped or not): an images file (``[N,H,W]`` or
  ``[N,H,W,C]``) and optionally a labels file (``[N]``), found beside it by name when not given.
- an image folder, by torchvision's ``ImageFolder`` rules: every sub-folder is a class (hidden ones
  too), label ids are the positions of the sub-folder names sorted as strings, and a class's images
  are the files with an image suffix (:data:`IMAGE_SUFFIXES`, any case) anywhere below its folder,
  sorted by path. A class folder without images is an error naming it, unless the data set sets
  ``allow_empty_classes: true``; then it keeps its label id, so later classes keep theirs (the
  numbering a model trained with ``ImageFolder`` expects). A folder of images without sub-folders
  is read unlabelled. Read with Pillow, colour as RGB.

Preprocessing (:class:`~accelsim.config.data.PreprocessConfig`), in this order on each raw image
(float32, H x W x C): channel count (grey -> RGB by replication, RGB -> grey by ITU-R 601 luma,
RGBA drops alpha) -> bilinear resize (Pillow, per channel in float) -> centre crop -> ``x * scale``
-> channel order (``bgr`` reverses RGB) -> ``(x - mean[c]) / std[c]`` -> layout (``nchw`` or ``nhwc``).

Memory stays bounded: raw pixels of ``.npz``/IDX sets are held once (uint8 as stored), image
folders are read per batch, and preprocessing runs batch by batch in :meth:`Dataset.batches`.
Every batch is checked for NaN/Inf; the error names the file and the sample's index (and the image
file, for folders). :func:`check_label_range` refuses labels outside the model's output classes.

Public API: :func:`open_dataset`, :class:`Dataset` (``len``, ``batches``, ``take``, ``sample_shape``,
``labels``), :func:`check_label_range`, :func:`calibration_batch`, :func:`read_idx`.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from accelsim.config.data import DatasetConfig, PreprocessConfig
from accelsim.config.run import BUNDLED
from accelsim.errors import AccelsimWarning, ConfigError, InputFileError
from accelsim.graph.inputs import check_sample_shape

__all__ = ["Dataset", "open_dataset", "check_label_range", "calibration_batch", "read_idx",
           "IMAGE_SUFFIXES", "FEW_CALIBRATION_IMAGES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""Image file suffixes of an image folder (torchvision's ``IMG_EXTENSIONS``), matched in any case."""

FEW_CALIBRATION_IMAGES = 8
"""Below this many images a calibration batch gets a warning (thresholds follow single images)."""
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# ---------------------------------------------------------------------------------------- readers


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a numpy array of its stored dtype (native byte order).

    Format: two zero bytes, a dtype code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the data.

    Raises
    ------
    InputFileError
        Missing file, bad magic number, a header whose dimensions do not account for exactly the
        data bytes that follow (a wrong rank byte, a truncated or padded file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: data file not found")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputFileError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}; valid: 0000 then dtype code "
            f"08/09/0b/0c/0d/0e, then rank) — or give format: npz / folder"
        )
    ndim = raw[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(raw) < head:
        raise InputFileError(f"{path}: IDX header truncated or of rank {ndim} (byte 4 is the number of dimensions)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - head < need:
        raise InputFileError(f"{path}: IDX data truncated ({len(raw) - head} bytes, header {dims} needs {need}; "
                             f"or the rank byte (byte 4) = {ndim} is wrong)")
    if len(raw) - head != need or 0 in dims:
        raise InputFileError(
            f"{path}: IDX header of rank {ndim} gives dimensions {dims} = {need} data bytes, but "
            f"{len(raw) - head} follow; the rank byte (byte 4) or a dimension is wrong, or the file is corrupt"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims, dtype=np.int64)), offset=head).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _to_nhwc(images: np.ndarray, layout: str, source: str) -> np.ndarray:
    """Raw image array -> [N,H,W,C] (no copy when possible)."""
    if images.ndim == 3:
        return images[..., None]
    if images.ndim != 4:
        raise InputFileError(f"{source}: images of shape {images.shape}; valid: [N,H,W], [N,H,W,C] or [N,C,H,W]")
    if layout == "auto":
        layout = "nhwc" if images.shape[-1] in (1, 3, 4) else "nchw"
    return images if layout == "nhwc" else images.transpose(0, 2, 3, 1)


def _load_npz(path: Path, image_layout: str):
    """(raw NHWC images or None, preprocessed x or None, labels or None) from an .npz file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            x = z["x"] if "x" in keys else None
            images = z["images"] if x is None and "images" in keys else None
            labels = z["labels"] if "labels" in keys else (z["y"] if "y" in keys else None)
    except FileNotFoundError:
        raise InputFileError(f"{path}: data file not found") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npz file ({exc})") from None
    except ValueError as exc:  # object arrays need pickle: refused
        raise InputFileError(f"{path}: .npz holds an array that needs pickle, refused ({exc})") from None
    if x is None and images is None:
        raise InputFileError(
            f"{path}: .npz holds keys {keys}; expected 'x' (float32 N×C×H×W, already preprocessed) or 'images' "
            f"(raw pixels), with optional 'labels' or 'y'"
        )
    if x is not None:
        if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
            raise InputFileError(f"{path}: 'x' must be float N×C×H×W, got {x.dtype} of shape {x.shape}")
        return None, x, labels
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise InputFileError(f"{path}: 'images' must be numeric, got {images.dtype}")
    return _to_nhwc(images, image_layout, str(path)), None, labels


def _idx_labels_path(images: Path) -> Path | None:
    name = images.name
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"), ("images", "labels")):
        if a in name:
            cand = images.with_name(name.replace(a, b))
            if cand.is_file():
                return cand
    return None


def _read_image(path: Path) -> np.ndarray:
    """One image file -> float32 [H,W,C] with C = 1 (grey) or 3 (RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit grey: keep every value
                arr = np.asarray(im).astype(np.float32)
            else:
                im = im.convert("L") if im.mode in ("L", "1") else im.convert("RGB")
                arr = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read image ({exc})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _class_images(folder: Path) -> list[Path]:
    """Image files anywhere below *folder* (links followed), in torchvision's order."""
    found = []
    for dirpath, _, names in sorted(os.walk(folder, followlinks=True)):
        found += [Path(dirpath) / n for n in sorted(names) if n.lower().endswith(IMAGE_SUFFIXES)]
    return found


def _scan_folder(root: Path, allow_empty: bool = False):
    """(files, labels or None, class names) of an image folder, by ``ImageFolder`` rules (module docstring)."""
    names = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if names:
        paths, labels, empty = [], [], []
        for label, name in enumerate(names):
            found = _class_images(root / name)
            if not found:
                empty.append(name)
            paths += found
            labels += [label] * len(found)
        if empty and not allow_empty:
            raise InputFileError(
                f"{root}: class folder{'s' if len(empty) > 1 else ''} {', '.join(repr(n) for n in empty[:5])}"
                f"{' ...' if len(empty) > 5 else ''} hold{'s' if len(empty) == 1 else ''} no images "
                f"({', '.join(IMAGE_SUFFIXES)}); every sub-folder is a class and the label ids are their "
                "sorted positions, so add its images, remove the folder, or set allow_empty_classes: true "
                "to keep its id"
            )
        if not paths:
            raise InputFileError(f"{root}: none of the {len(names)} class folders holds images ({', '.join(IMAGE_SUFFIXES)})")
        return paths, np.asarray(labels, np.int64), names
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
    if not paths:
        raise InputFileError(
            f"{root}: no images found (valid: one sub-folder per class holding {', '.join(IMAGE_SUFFIXES)} files)"
        )
    return paths, None, []


# ----------------------------------------------------------------------------------- preprocessing


def _convert_channels(img: np.ndarray, channels: int | None) -> np.ndarray:
    """[H,W,C] float32 -> the wanted channel count (grey replicated, RGB -> ITU-R 601 luma, alpha dropped)."""
    c = img.shape[-1]
    if c == 4 and channels != 4:
        img, c = img[..., :3], 3
    if channels is None or channels == c:
        return img
    if c == 1 and channels == 3:
        return np.repeat(img, 3, axis=-1)
    if c == 3 and channels == 1:
        return (img[..., 0:1] * 0.299 + img[..., 1:2] * 0.587 + img[..., 2:3] * 0.114).astype(np.float32)
    return img  # left to check_sample_shape to report


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of [H,W,C] float32 to *hw* with Pillow (mode 'F', one channel at a time)."""
    from PIL import Image

    if img.shape[:2] == tuple(hw):
        return img
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(img[..., k]), mode="F")
                        .resize((hw[1], hw[0]), Image.BILINEAR), dtype=np.float32) for k in range(img.shape[-1])]
    return np.stack(chans, axis=-1)


def _center_crop(img: np.ndarray, hw: tuple[int, int], source: str) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = hw
    if ch > h or cw > w:
        raise InputFileError(f"{source}: centre crop {ch}x{cw} is larger than the image {h}x{w}; resize first")
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top: top + ch, left: left + cw]


def _geometry(img: np.ndarray, pp: PreprocessConfig, channels: int | None, source: str) -> np.ndarray:
    img = _convert_channels(np.asarray(img, dtype=np.float32), channels)
    if pp.resize is not None:
        img = _resize(img, pp.resize)
    if pp.center_crop is not None:
        img = _center_crop(img, pp.center_crop, source)
    return img


def _per_channel(values: tuple[float, ...], c: int, key: str, source: str) -> np.ndarray:
    if len(values) not in (1, c):
        raise ConfigError(f"{source}: preprocess.{key} has {len(values)} values for {c} channels (valid: 1 or {c})")
    return np.asarray(values if len(values) == c else values * c, dtype=np.float32)


def _normalise(nhwc: np.ndarray, pp: PreprocessConfig, source: str) -> np.ndarray:
    """[N,H,W,C] after geometry -> scale, channel order, mean/std, layout; float32 contiguous."""
    x = nhwc.astype(np.float32, copy=False) * np.float32(pp.scale)
    c = x.shape[-1]
    if pp.channel_order == "bgr" and c == 3:
        x = x[..., ::-1]
    x = (x - _per_channel(pp.mean, c, "mean", source)) / _per_channel(pp.std, c, "std", source)
    if pp.layout == "nchw":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------------------- dataset


class Dataset:
    """A data set ready for evaluation: preprocessed float32 batches, labels when known.

    Build it with :func:`open_dataset`. Parameters are stored, work happens in :meth:`get`,
    :meth:`batches` and :meth:`take`.
    """

    def __init__(self, source: str, count: int, labels: np.ndarray | None, preprocess: PreprocessConfig,
                 channels: int | None, *, raw: np.ndarray | None = None, x: np.ndarray | None = None,
                 paths: list[Path] | None = None, class_names: list[str] | None = None):
        self.source = source
        self.count = count
        self.labels = labels
        """int64 [len] labels, or None for an unlabelled set."""
        self.preprocess = preprocess
        self.channels = channels
        self.class_names = class_names or []
        self._raw, self._x, self._paths = raw, x, paths

    def __len__(self) -> int:
        return self.count

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one preprocessed sample (C,H,W for nchw, H,W,C for nhwc)."""
        return tuple(self.get(np.arange(min(1, self.count)))[0].shape[1:])

    def get(self, indices) -> tuple[np.ndarray, np.ndarray | None]:
        """Preprocessed samples at *indices* (float32, model layout) and their int64 labels (or None).

        Raises
        ------
        InputFileError
            A sample holds NaN or Inf; images of a batch differ in size and no resize is set.
        """
        idx = np.asarray(indices, dtype=np.int64)
        y = None if self.labels is None else self.labels[idx]
        if self._x is not None:
            x = np.ascontiguousarray(self._x[idx], dtype=np.float32)
        else:
            pp = self.preprocess
            if self._raw is not None and pp.resize is None and pp.center_crop is None:
                imgs = [_convert_channels(self._raw[idx].astype(np.float32), self.channels)]  # one vectorised batch
            elif self._raw is not None:
                imgs = [_geometry(self._raw[i], pp, self.channels, self.source) for i in idx]
            else:
                imgs = [_geometry(_read_image(self._paths[i]), self.preprocess, self.channels, str(self._paths[i]))
                        for i in idx]
            sizes = {im.shape[-3:] for im in imgs}
            if len(sizes) > 1:
                raise InputFileError(
                    f"{self.source}: images differ in size {sorted(sizes)[:3]}; set preprocess.resize (and "
                    f"center_crop) so they agree"
                )
            if self._raw is not None and pp.resize is None and pp.center_crop is None:
                stacked = imgs[0]
            else:
                stacked = np.stack(imgs) if imgs else np.zeros((0, 1, 1, 1), np.float32)
            x = _normalise(stacked, self.preprocess, self.source)
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if len(x) else np.zeros(0, bool)
        if bad.any():
            i = int(idx[np.argmax(bad)])
            where = f"{self._paths[i]}: sample {i} of {self.source}" if self._paths is not None else \
                f"{self.source}: sample {i}"
            stored = "" if self._x is not None else " after preprocessing (check preprocess.scale/mean/std)"
            raise InputFileError(
                f"{where} holds NaN or Inf values{stored}; {int(bad.sum())} of the {len(x)} samples read "
                "with it do; fix or drop them"
            )
        return x, y

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(x, y)`` batches in stored order, ``batch_size`` samples each (the last may be smaller)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
        for start in range(0, self.count, batch_size):
            yield self.get(np.arange(start, min(start + batch_size, self.count)))

    def take(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
        """A calibration batch: *n* samples drawn without replacement by ``numpy.random.default_rng(seed)``,
        in ascending index order. When the set holds fewer than *n* samples, all of them are returned
        (:func:`calibration_batch` warns about it)."""
        n = min(int(n), self.count)
        idx = np.sort(np.random.default_rng(seed).choice(self.count, size=n, replace=False))
        return self.get(idx)


def calibration_batch(ds: Dataset, requested: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """The calibration batch of *requested* images from *ds*, and the warnings it deserves.

    Returns the images (see :meth:`Dataset.take`) and one line per warning, each also issued as an
    :class:`~accelsim.errors.AccelsimWarning`: the data set holds fewer images than requested (all
    are used: requested and effective counts differ), or fewer than :data:`FEW_CALIBRATION_IMAGES`
    images calibrate (thresholds then follow single images).
    """
    x, _ = ds.take(requested, seed)
    lines = []
    if len(x) < requested:
        lines.append(f"calibration batch: {requested} images requested (quant.calib_batch), {ds.source} holds "
                     f"{len(ds)}; calibrating on all {len(x)}")
    if len(x) < FEW_CALIBRATION_IMAGES:
        lines.append(f"calibration batch: only {len(x)} image{'s' if len(x) != 1 else ''}; thresholds from fewer "
                     f"than {FEW_CALIBRATION_IMAGES} images follow single images (64 or more is usual)")
    for line in lines:
        warnings.warn(line, AccelsimWarning, stacklevel=2)
    return x, lines


def check_label_range(labels: np.ndarray, classes: int, ds: Dataset | None = None, source: str = "") -> None:
    """Raise unless every label is a class id of a model with *classes* outputs (``0 .. classes-1``).

    Raises
    ------
    InputFileError
        Naming the data set, the first bad label and its index (and class folder, for image folders).
    """
    labels = np.asarray(labels)
    bad = (labels < 0) | (labels >= classes)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    source = getattr(ds, "source", None) or source
    names = getattr(ds, "class_names", None) or []
    folder = ""
    if 0 <= labels[i] < len(names):
        folder = f" (class folder {names[int(labels[i])]!r} of {len(names)})"
    raise InputFileError(
        f"{source}: label {int(labels[i])} at sample {i}{folder} is outside the model's {classes} output "
        f"classes (valid: 0-{classes - 1}); {int(bad.sum())} label{'s' if bad.sum() != 1 else ''} out of range "
        "- wrong labels file, or data for another model"
    )


def open_dataset(cfg: DatasetConfig | str | Path, model_input_shape: tuple[int, ...] | None = None,
                 split: str = "test") -> Dataset:
    """Open a data set as configured; nothing is preprocessed until batches are asked for.

    Parameters
    ----------
    cfg : the data set config, or just a path (all defaults).
    model_input_shape : the model input ``(N, C, H, W)`` (or ``(N, H, W, C)`` for nhwc) when known:
        sets the channel count when ``preprocess.channels`` is None, and the first sample is checked
        against it with :func:`accelsim.graph.inputs.check_sample_shape`.
    split : for ``path: bundled``, which shipped set (``calib`` or ``test``). The bundled set takes
        the bundled model's preprocessing (``default_model.json``) unless ``preprocess`` is given.

    Raises
    ------
    InputFileError
        Missing file, unknown or corrupt format, labels count != images count, shape mismatch
        with *model_input_shape*, NaN/Inf in the first sample.
    """
    if not isinstance(cfg, DatasetConfig):
        cfg = DatasetConfig(path=str(cfg))
    pp = cfg.preprocess
    if cfg.path == BUNDLED:
        from accelsim.workloads import bundled

        path = bundled.dataset_path(split)
        if pp == PreprocessConfig():
            pp = bundled.preprocess_config()
    else:
        path = Path(cfg.path)
    if not path.exists():
        raise InputFileError(f"{path}: data file not found")
    fmt = cfg.format
    if fmt == "auto":
        fmt = "folder" if path.is_dir() else ("npz" if path.suffix.lower() == ".npz" else "idx")
    if fmt == "folder" and not path.is_dir():
        raise InputFileError(f"{path}: format 'folder' needs a directory with one sub-folder per class")
    if fmt != "folder" and path.is_dir():
        raise InputFileError(f"{path}: is a folder, but format is {fmt!r} (valid for folders: 'folder' or 'auto')")
    channels = pp.channels
    if channels is None and model_input_shape is not None and len(model_input_shape) == 4:
        c = model_input_shape[1] if pp.layout == "nchw" else model_input_shape[3]
        channels = None if c is None else int(c)
    source = str(path)
    labels_source = source
    raw = x = paths = None
    names: list[str] = []
    if fmt == "npz":
        raw, x, labels = _load_npz(path, cfg.image_layout)
    elif fmt == "idx":
        arr = read_idx(path)
        if not (arr.ndim in (3, 4)):
            raise InputFileError(f"{path}: IDX images must be [N,H,W] or [N,H,W,C], got shape {arr.shape}")
        raw = _to_nhwc(arr, cfg.image_layout, source)
        lpath = Path(cfg.labels) if cfg.labels else _idx_labels_path(path)
        labels = read_idx(lpath) if lpath is not None else None
        if lpath is not None:
            labels_source = str(lpath)
        if labels is not None and labels.ndim != 1:
            raise InputFileError(f"{lpath}: IDX labels must be one-dimensional, got shape {labels.shape}")
    else:
        paths, labels, names = _scan_folder(path, cfg.allow_empty_classes)
    count = len(x) if x is not None else (len(raw) if raw is not None else len(paths))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:  # [N, 1] column of labels
            labels = labels[:, 0]
        if labels.ndim != 1 or len(labels) != count:
            raise InputFileError(f"{labels_source}: {labels.shape[0] if labels.ndim else 0} labels for {count} images")
        if not np.issubdtype(labels.dtype, np.integer):
            if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
            else:
                raise InputFileError(f"{labels_source}: labels must be integers, got {labels.dtype}")
        labels = labels.astype(np.int64, copy=False)
    if cfg.limit is not None and cfg.limit < count:
        count = cfg.limit
        labels = None if labels is None else labels[:count]
    ds = Dataset(source, count, labels, pp, channels, raw=raw, x=x, paths=paths, class_names=names)
    if count == 0:
        raise InputFileError(f"{source}: data set holds no samples")
    first, _ = ds.get([0])
    if model_input_shape is not None:
        check_sample_shape(first.shape, model_input_shape, source)
    return ds

