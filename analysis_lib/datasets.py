"""Labelled samples with fixed, seeded splits, shared by the studies (each study's own
samples are built in its module of ``studies``).

Contents: ``LabelledSample``, ``h5_or_root``.
"""

from dataclasses import dataclass

import numpy as np

from .io import ShowerSample


@dataclass
class LabelledSample:
    """Shower sample with a class label per event, and train / validation / test indices."""

    sample: ShowerSample
    labels: np.ndarray
    classes: tuple
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def truth_at(self, index):
        """The truth this sample carries (a real file may carry none), at ``index``."""
        return {k: v[index] for k, v in self.sample.truth.items()}

    def subset(self, index):
        return ShowerSample([layer[index] for layer in self.sample.layers],
                            {k: v[index] for k, v in self.sample.truth.items()}, self.sample.attrs)


def h5_or_root(stem):
    """``<stem>.h5``, or ``<stem>.root`` where only that exists."""
    h5, root = stem.parent / f"{stem.name}.h5", stem.parent / f"{stem.name}.root"  # a tag may hold a dot
    return root if root.exists() and not h5.exists() else h5
