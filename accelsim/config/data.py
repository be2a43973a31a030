"""``data:`` — calibration and test data sets, and their preprocessing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel


class PreprocessConfig(ConfigModel):
    """Turn stored images into model input: resize, crop, x*scale, (x-mean)/std, order, layout."""

    resize: tuple[int, int] | None = Field(None, description="Resize to H,W pixels (before cropping).")
    center_crop: tuple[int, int] | None = Field(None, description="Centre crop to H,W pixels.")
    scale: float = Field(1.0 / 255.0, description="Multiply raw pixel values by this first.")
    mean: tuple[float, ...] = Field((0.0,), description="Per-channel mean subtracted after scaling.")
    std: tuple[float, ...] = Field((1.0,), description="Per-channel std divided after the mean.")
    channel_order: Literal["rgb", "bgr"] = Field("rgb", description="Channel order the model expects.")
    layout: Literal["nchw", "nhwc"] = Field("nchw", description="Input layout the model expects.")


class DatasetConfig(ConfigModel):
    """One data set as users have it: .npz, IDX (MNIST format, gzipped or not) or an image folder."""

    path: str = Field(..., description="File or folder (relative to the config file), or 'bundled'.")
    format: Literal["auto", "npz", "idx", "folder"] = Field("auto", description="How to read `path`.")
    labels: str | None = Field(None, description="IDX labels file, when `path` is an IDX images file.")
    limit: int | None = Field(None, ge=1, description="Use at most this many samples (first ones).")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)


class DataConfig(ConfigModel):
    """Where calibration and test images come from; for the bundled model both default to bundled."""

    calib: DatasetConfig | None = Field(None, description="Calibration images (one batch is drawn).")
    test: DatasetConfig | None = Field(None, description="Labelled test images for accuracy.")
    batch_size: int = Field(256, ge=1, description="Images per evaluation batch (bounds memory).")
