"""``data:`` — calibration and test data sets, and their preprocessing.

::

    data:
      calib: {path: calib.npz}                       # one batch is drawn from it (quant.calib_batch)
      test:
        path: fashion-mnist/t10k-images-idx3-ubyte.gz  # labels found beside it (t10k-labels-idx1-...)
        limit: 2000
        preprocess: {scale: 0.00392156862745098, mean: [0.2860], std: [0.3530]}
      batch_size: 256

Preprocessing order (see :mod:`accelsim.datasets.readers`): raw pixels -> channel count (grey <-> RGB)
-> resize -> centre crop -> ``x * scale`` -> channel order -> ``(x - mean) / std`` -> layout.
An ``.npz`` holding ``x`` (already preprocessed float32) skips all of it.
"""

from typing import Literal

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel


class PreprocessConfig(ConfigModel):
    """Turn stored images into model input: channels, resize, crop, x*scale, order, (x-mean)/std, layout."""

    resize: tuple[int, int] | None = Field(
        None, description="Resize to H,W pixels (bilinear, before cropping); None keeps the stored size.")
    center_crop: tuple[int, int] | None = Field(
        None, description="Centre crop to H,W pixels (after resizing); None keeps the whole image.")
    scale: float = Field(1.0 / 255.0, description="Multiply raw pixel values by this first (unitless; 1/255 maps "
                                                   "8-bit pixels to [0, 1]).")
    mean: tuple[float, ...] = Field(
        (0.0,), description="Per-channel mean subtracted after scaling, in the model's channel order (one value "
                            "applies to every channel).")
    std: tuple[float, ...] = Field(
        (1.0,), description="Per-channel std divided after the mean, in the model's channel order (one value "
                            "applies to every channel).")
    channel_order: Literal["rgb", "bgr"] = Field(
        "rgb", description="Channel order the model expects (stored colour images are read as RGB).")
    layout: Literal["nchw", "nhwc"] = Field("nchw", description="Input layout the model expects.")
    channels: int | None = Field(
        None, ge=1, description="Channels the model expects (1 grey, 3 colour). Grey images are replicated to 3 "
                                "channels; RGB becomes grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B). "
                                "None: take it from the model input when known, else keep the stored count.")

    @pydantic.field_validator("std")
    @classmethod
    def _std_positive(cls, v):
        if not v or any(s <= 0 for s in v):
            raise ValueError("every std must be > 0")
        return v

    @pydantic.field_validator("mean")
    @classmethod
    def _mean_nonempty(cls, v):
        if not v:
            raise ValueError("give at least one mean")
        return v

    @pydantic.field_validator("resize", "center_crop")
    @classmethod
    def _positive_hw(cls, v):
        if v is not None and (v[0] < 1 or v[1] < 1):
            raise ValueError("H and W must be >= 1")
        return v


class DatasetConfig(ConfigModel):
    """One data set as users have it: .npz, IDX (MNIST format, gzipped or not) or an image folder."""

    path: str = Field(..., description="File or folder (relative to the config file), or 'bundled'.")
    format: Literal["auto", "npz", "idx", "folder"] = Field(
        "auto", description="How to read `path`; auto: a folder is an image folder, *.npz is npz, anything else "
                            "IDX (gzipped or not).")
    labels: str | None = Field(
        None, description="IDX labels file, when `path` is an IDX images file; default: the file beside it with "
                          "'images-idx3' replaced by 'labels-idx1', if present.")
    limit: int | None = Field(None, ge=1, description="Use at most this many samples (the first ones).")
    image_layout: Literal["auto", "nhwc", "nchw"] = Field(
        "auto", description="Layout of raw images stored in .npz/IDX arrays: [N,H,W] is grey; auto reads 4-D "
                            "arrays as NHWC when the last axis is 1, 3 or 4, else NCHW.")
    allow_empty_classes: bool = Field(
        False, description="Image folders: accept a class sub-folder without images (it keeps its label id, so "
                           "the ids of later classes do not shift). Default false: an empty class folder is an "
                           "error naming it, as in torchvision's ImageFolder.")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)


class DataConfig(ConfigModel):
    """Where calibration and test images come from; for the bundled model both default to bundled."""

    calib: DatasetConfig | None = Field(None, description="Calibration images (one batch is drawn).")
    test: DatasetConfig | None = Field(None, description="Labelled test images for accuracy.")
    batch_size: int = Field(256, ge=1, description="Images per evaluation batch (bounds memory).")
