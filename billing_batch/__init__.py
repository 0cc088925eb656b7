"""billing-batch: the nightly billing run of a small medical or services office."""

__version__ = "0.1.0"
