"""Fixtures every test package may use."""

from tests.graph.conftest import mnist_images  # noqa: F401  (the shared MNIST subset, for graph and datasets tests)
