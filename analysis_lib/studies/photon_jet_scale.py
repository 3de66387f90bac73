"""Photon-jets at the original's training size (arXiv 2401.15690, Table 2): the CNN, the
shower-shape BDT and the raw-cell trees trained on tens of thousands of events per class, on
a training-size curve whose smaller sets are nested in the larger ones.

Every point of a curve keeps the same validation and test events (``with_training_per_class``
cuts only the training part), so two sizes, two models or two image scalings compare paired
(``photon_jet_gap.paired_ratio``) on one set of test events.

What to use when:

    scale_sample              the simulated axion1 (or other) task with one of the two guns,
                              on the published files' digitisation, split 60/10/30
    with_training_per_class   the same sample with its training part cut to n per class
    cnn_scores, gbdt_scores   the CNN's and the raw-cell trees' ``TestScores`` on the sample's
                              test events (the BDT's: ``photon_jet_gap.bdt_rejection``)
    IMAGE_SCALINGS            the CNN's inputs: each event's energy fractions, or the cells'
                              energies on one scale for every event
    leader                    which of two models leads at one size, at two errors of their
                              paired ratio
    crossing_size             the smallest size on a curve from which the CNN leads a tree
    training_size_sentence    where another page's training size stands on that curve

Contents: ``SCALE_GUNS``, ``GUN_TITLES``, ``IMAGE_SCALINGS``, ``CNN_IMAGE_SCALING``, ``scale_sample``,
``with_training_per_class``, ``cnn_scores``, ``gbdt_scores``, ``leader``, ``crossing_size``, ``TREE_NAMES``,
``training_size_sentence``.
"""

from dataclasses import replace

import numpy as np
from scipy.special import erf

from ..detectors import ATLAS_ECAL
from ..errors import ParameterError
from ..features import energy_log_images, log_scaled_images
from ..metrics import poisson_interval
from ..training import predict_logits
from .photon_jet_gap import GUNS, paired_ratio, rejection_at
from .photon_jets import READOUT_LADDER, gbdt_logits, raw_cell_gbdt, simulated_task, train_photon_jet_cnn

#: The guns a stage names (a matrix value names a page, so one word each): the book's, and the
#: original's as inferred from its example macro (``photon_jet_gap.GUNS``).
SCALE_GUNS = {"book": "this book", "original": "the original's gun"}
#: How a page names each gun of ``SCALE_GUNS``.
GUN_TITLES = {"book": "the book's gun", "original": "the original's gun (inferred)"}
#: The CNN's image scalings: each cell over its event's energy (shapes only, the book's
#: default), or each cell's energy on one scale for every event (the energy visible).
IMAGE_SCALINGS = {"event fractions": log_scaled_images, "absolute energy": energy_log_images}
#: The scaling the photon-jet chapters train on; the scale chapter measures it against the other.
CNN_IMAGE_SCALING = "event fractions"


def scale_sample(task, events_per_class, gun, seed=1, fractions=(0.6, 0.1, 0.3), direction_spread_cells=None):
    """``simulated_task`` with the gun named by ``gun`` (a key of ``SCALE_GUNS``) on the published
    files' digitisation, split as the original (70/30) with a seventh of the training part
    held out for early stopping. ``direction_spread_cells`` replaces the gun's direction spread
    by that fraction of a middle cell (its vertex stays): the same seeds, so the same decays."""
    if gun not in SCALE_GUNS:
        raise ParameterError(f"unknown gun {gun!r}; choose one of {', '.join(SCALE_GUNS)}")
    options = dict(GUNS[SCALE_GUNS[gun]])
    if direction_spread_cells is not None:
        if not 0 <= direction_spread_cells <= 5:
            raise ParameterError(f"a direction spread of {direction_spread_cells} middle cells is outside 0 to 5")
        options["direction_spread_rad"] = direction_spread_cells * ATLAS_ECAL.layer_named("middle").cell_size_rad[0]
    return simulated_task(task, events_per_class, READOUT_LADDER["published files (deposit + spots)"], seed=seed,
                          fractions=tuple(fractions), **options)


def with_training_per_class(data, per_class):
    """``data`` with its training part cut to the first ``per_class`` events of each class, in
    the split's shuffled order: a smaller set is part of every larger one, and validation and
    test events stay the same."""
    counts = np.bincount(data.labels[data.train], minlength=len(data.classes))
    if per_class < 1 or per_class > counts.min():
        raise ParameterError(f"a training size of {per_class} events per class is outside this sample's 1 to "
                             f"{counts.min()}; simulate more events per class or ask for fewer")
    labels = data.labels[data.train]
    rank = np.zeros(len(labels), dtype=int)
    for label in range(len(data.classes)):  # each event's place among its class's training events
        rank[labels == label] = np.arange(np.sum(labels == label))
    return replace(data, train=data.train[rank < per_class])


def cnn_scores(data, images, seed=1, epochs=15):
    """The book's CNN (``train_photon_jet_cnn``) trained on ``data``'s training part of
    ``images`` (one of ``IMAGE_SCALINGS`` of ``data.sample``): its ``TestScores``, its history
    and its logits on the test events (what ``photon_jets.headline_numbers`` reads)."""
    model, history = train_photon_jet_cnn(data, images, seed=seed, epochs=epochs)
    logits = predict_logits(model, [image[data.test] for image in images])
    return rejection_at(logits, data.labels[data.test]), history, logits


def gbdt_scores(data, cells, seed=1, max_iter=100):
    """The raw-cell tree (``photon_jets.raw_cell_gbdt``, the comparison chapters' "trees")
    trained on ``data``'s training part alone of ``cells`` (``raw_cell_features`` of
    ``data.sample``), so that its sets nest as the CNN's do: its ``TestScores``."""
    gbdt = raw_cell_gbdt(cells[data.train], data.labels[data.train], seed=seed, max_iter=max_iter)
    return rejection_at(gbdt_logits(gbdt, cells[data.test]), data.labels[data.test])


def leader(first, second, names=("CNN", "BDT"), n_sigma=2.0):
    """The name (of ``names``) of the model whose rejection lies above the other's by more
    than ``n_sigma`` errors of their paired ratio (same test events), else "neither". Where
    no background event passes one model the ratio has no value; that model leads where the
    other's passing count is above what the empty one allows at ``n_sigma`` (Garwood's
    central interval at that confidence: its upper edge for zero counts against the other's
    lower)."""
    if first.n_background_pass == 0 or second.n_background_pass == 0:
        confidence = float(erf(n_sigma / np.sqrt(2.0)))
        empty, other, name = (first, second, names[0]) if first.n_background_pass == 0 else (second, first, names[1])
        above = poisson_interval(other.n_background_pass, confidence)[0] > poisson_interval(0, confidence)[1]
        return name if above else "neither"
    away = paired_ratio(first, second).errors_from(1.0)
    return names[0] if away > n_sigma else names[1] if away < -n_sigma else "neither"


def crossing_size(sizes, leaders, model="CNN"):
    """The smallest training size of a curve (``sizes`` ascending, ``leaders`` the ``leader`` at
    each) from which ``model`` leads at every larger size too; None where it does not lead
    at the largest."""
    leads = [who == model for who in leaders]
    if not leads or not leads[-1]:
        return None
    first = len(leads) - 1
    while first > 0 and leads[first - 1]:
        first -= 1
    return sizes[first]


#: How a page names each tree of the curve.
TREE_NAMES = {"BDT": "the shower-shape BDT", "GBDT": "the raw-cell trees"}


def training_size_sentence(training_per_class, curve, tree="GBDT"):
    """Where a page's training size stands on the training-size curve (``curve``: the
    ``curve.csv`` table of the scale chapter, one row per size and model, a tree's row with
    the ``leader`` of the CNN against it): below, at or above the size from which the CNN
    leads ``tree`` ("GBDT", the raw-cell trees of the comparison chapters, or "BDT")."""
    rows = curve[curve["model"] == tree].sort_values("training events per class")
    sizes, largest = list(rows["training events per class"]), int(rows["training events per class"].max())
    crossing = crossing_size(sizes, list(rows["leads at two errors"]))
    name = TREE_NAMES[tree]
    where = (f"on the scale chapter's training-size curve (axion1, {rows['gun'].iloc[0]}, the CNN against {name}, up "
             f"to {largest} training events per class)")
    if crossing is None:
        return (f"These models trained on {training_per_class} events per class; {where} the CNN leads {name} at no "
                "size, so the order of this page's models is not yet known to change with the training size.")
    if training_per_class < crossing:
        return (f"These models trained on {training_per_class} events per class, below the {crossing} from which the "
                f"CNN leads {name} {where}: the order of networks and trees on this page is an answer at this "
                "training size, not at the original's.")
    return (f"These models trained on {training_per_class} events per class, at or above the {crossing} from which the "
            f"CNN leads {name} {where}.")
