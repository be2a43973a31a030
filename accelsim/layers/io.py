"""Descriptor files: ``descriptors.json`` (header and layers) plus ``tensors.npz`` (arrays).

Readable with nothing but :mod:`json` and :mod:`numpy` (``np.load(path, allow_pickle=False)``).
The header carries ``schema_version``; a reader refuses files from a newer version. Both files are
written atomically (:mod:`accelsim.atomic`), ``tensors.npz`` first; the header records the SHA-256
of the tensors it belongs to (``tensors_sha256``), so a pair torn apart by a crash between the two
renames is refused on reading instead of pairing new arrays with old layers: both carry the same
``write_id`` (the header's key, and an array of that name in ``tensors.npz``), a SHA-256 digest of
the network's content, so writing the same network twice gives the same bytes (deterministic
outputs) while any two different networks differ. Editing the arrays by loading and re-saving all
of them keeps the pair valid.
"""

from __future__ import annotations

import json
import hashlib
import zipfile
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from accelsim import __version__
from accelsim.atomic import make_dirs, save_npz, write_text
from accelsim.errors import InputFileError, SchemaVersionError
from accelsim.layers.descriptor import LayerDescriptor, Network, QuantParams

SCHEMA_VERSION = 2
"""Version of the descriptor file format; bump on any incompatible change (2: op kinds ``affine``,
``prelu``, ``gather``, ``resize`` and a concat ``index``)."""

DESCRIPTORS_FILE = "descriptors.json"
TENSORS_FILE = "tensors.npz"

WRITE_ID = "write_id"
"""Key of the random token ``descriptors.json`` and ``tensors.npz`` share (pairs them)."""

_TUPLE_FIELDS = {"inputs", "in_shape", "out_shape", "kernel", "stride", "padding", "dilation"}


def _layer_to_dict(layer: LayerDescriptor) -> dict:
    d = asdict(layer)
    d["extra"] = dict(layer.extra)
    return d


def _layer_from_dict(d: dict, source: str) -> LayerDescriptor:
    known = {f.name for f in fields(LayerDescriptor)}
    unknown = set(d) - known
    name = d.get("name", "?")
    if unknown:
        raise InputFileError(f"{source}: layer {name!r}: unknown fields {sorted(unknown)}")
    d = dict(d)
    for key in _TUPLE_FIELDS & set(d):
        d[key] = tuple(d[key])
    q = d.get("quant")
    try:
        if q is not None:
            q = dict(q)
            q["in_thresholds"] = tuple(q["in_thresholds"])
            q["in_steps"] = tuple(q["in_steps"])
            d["quant"] = QuantParams(**q)
        return LayerDescriptor(**d)
    except (TypeError, ValueError) as exc:
        raise InputFileError(f"{source}: layer {name!r}: {exc}") from None


def write_network(net: Network, directory: str | Path) -> Path:
    """Write *net* as ``directory/descriptors.json`` and ``directory/tensors.npz``.

    Returns the directory. Arrays are stored without pickle; float arrays keep their dtype.
    """
    directory = make_dirs(directory)
    arrays = {k: np.asarray(v) for k, v in net.tensors.items()}
    for key, arr in arrays.items():
        if arr.dtype == object:
            raise ValueError(f"tensor {key!r} has dtype object; only numeric arrays are stored")
    header = {
        "schema_version": SCHEMA_VERSION,
        "accelsim_version": __version__,
        "name": net.name,
        "inputs": list(net.inputs),
        "outputs": list(net.outputs),
        "input_quant": {k: list(v) for k, v in net.input_quant.items()},
        "meta": dict(net.meta),
        "layers": [_layer_to_dict(layer) for layer in net.layers],
    }
    header[WRITE_ID] = write_id = _content_id(header, arrays)
    save_npz(directory / TENSORS_FILE, {**arrays, WRITE_ID: np.asarray(write_id)})
    write_text(directory / DESCRIPTORS_FILE, json.dumps(header, indent=1) + "\n")
    return directory


def _content_id(header: dict, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex, 32 characters) of the header and every array's name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8"))
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode("utf-8"))
        digest.update(arr.tobytes())
    return digest.hexdigest()[:32]


def read_network(directory: str | Path) -> Network:
    """Read a network written by :func:`write_network`.

    Raises
    ------
    InputFileError
        Missing or corrupt files, unknown fields, arrays named by no layer missing.
    SchemaVersionError
        The files come from a newer schema version than this accelsim reads.
    """
    directory = Path(directory)
    head_path = directory / DESCRIPTORS_FILE
    tens_path = directory / TENSORS_FILE
    if not head_path.is_file():
        raise InputFileError(f"{head_path}: file not found (expected a descriptor folder)")
    try:
        header = json.loads(head_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{head_path}: not a valid descriptor file ({exc})") from None
    if not isinstance(header, dict) or "schema_version" not in header:
        raise InputFileError(f"{head_path}: no 'schema_version': not an accelsim descriptor file")
    version = header["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{head_path}: schema_version {version!r} is newer than this accelsim reads "
            f"(<= {SCHEMA_VERSION}); upgrade accelsim or re-run 'accelsim quantize'"
        )
    tensors: dict[str, np.ndarray] = {}
    if tens_path.exists():
        try:
            with np.load(tens_path, allow_pickle=False) as npz:
                tensors = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise InputFileError(f"{tens_path}: cannot read arrays ({exc})") from None
        stored = tensors.pop(WRITE_ID, None)
        expected = header.get(WRITE_ID)
        if expected is not None and stored is not None and str(stored) != expected:
            raise InputFileError(
                f"{tens_path}: belongs to another write than {head_path.name} (write_id "
                f"{str(stored)[:8]}... vs {expected[:8]}...; a write was interrupted between the "
                "two files); write the folder again"
            )
    try:
        layers = tuple(_layer_from_dict(d, str(head_path)) for d in header["layers"])
        net = Network(
            name=header["name"],
            layers=layers,
            inputs=tuple(header["inputs"]),
            outputs=tuple(header["outputs"]),
            tensors=tensors,
            input_quant={k: tuple(v) for k, v in header.get("input_quant", {}).items()},
            meta=header.get("meta", {}),
        )
    except (KeyError, TypeError) as exc:
        raise InputFileError(f"{head_path}: missing or malformed field {exc}") from None
    for layer in net.layers:
        if layer.quant is not None and layer.op in ("conv2d", "depthwise", "gemm"):
            for role in ("weight", "bias", "pre_shift", "scale", "post_shift"):
                if layer.key(role) not in tensors:
                    raise InputFileError(
                        f"{tens_path}: array {layer.key(role)!r} of layer {layer.name!r} is missing"
                    )
    return net
