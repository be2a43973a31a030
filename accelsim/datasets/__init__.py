"""Labelled image data sets for calibration and evaluation: ``.npz``, IDX (gzip or not) and class
folders, with preprocessing (:mod:`accelsim.datasets.readers`).

Imports only :mod:`accelsim.config` and :mod:`accelsim.errors`.
"""
