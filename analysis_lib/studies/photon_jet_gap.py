"""Why the book's photon-jet rejections differ from the original's (arXiv 2401.15690),
measured one effect at a time on the same simulated events.

Every measurement here is a rejection at 90 % signal efficiency (``metrics.working_point``)
of one model family on one simulated task; a comparison is the ratio of two such
rejections with one effect switched, on the same events and so paired (``paired_ratio``),
never a product of ratios measured on different events or models.

What to use when:

    gun_comparison      the original's particle gun against the book's, with the
                        shower-shape BDT, on every task: is the sample the cause?
    bdt_rejection,      one model on one sample: the nine-variable BDT as the original's,
    gbdt_rejection      or a gradient-boosted tree on every raw cell (what the images hold)
    oracle_features,    the best a classifier could do from the decay's truth photons,
    oracle_rejection    seen with a detector's energy and position resolution
    size_curve_slope    how a model's rejection grows with its training sample

Contents: ``GUNS``, ``TestScores``, ``paired_ratio``, ``rejection_at``, ``bdt_rejection``, ``gbdt_rejection``,
``bdt_test_logits``, ``gun_comparison``, ``oracle_features``, ``oracle_rejection``, ``size_curve_slope``.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..detectors import ATLAS_ECAL
from ..detectors.atlas_ecal import DIRECTION_SPREAD_RAD, draw_primaries
from ..detectors.kinematics import angles_from_momentum
from ..errors import ParameterError
from ..features import SHOWER_SHAPES, shower_shapes
from ..metrics import paired_rejection_ratio, signal_score, working_point
from ..training import split_indices
from .photon_jets import (ORIGINAL_DIRECTION_SPREAD_RAD, ORIGINAL_VERTEX_Z_MM, READOUT_LADDER, gbdt_logits,
                          raw_cell_features, raw_cell_gbdt, shower_shape_bdt, simulated_task)

#: Particle guns, as ``simulated_task`` options: the book's (impact point spread over half
#: a middle cell, vertex at the origin), the original's fixed direction alone, and the
#: original's whole gun (fixed direction from a point 288 mm behind the origin).
GUNS = {
    "this book": {"direction_spread_rad": DIRECTION_SPREAD_RAD, "vertex_z_mm": 0.0},
    "fixed direction": {"direction_spread_rad": ORIGINAL_DIRECTION_SPREAD_RAD, "vertex_z_mm": 0.0},
    "the original's gun": {"direction_spread_rad": ORIGINAL_DIRECTION_SPREAD_RAD, "vertex_z_mm": ORIGINAL_VERTEX_Z_MM},
}


@dataclass(frozen=True)
class TestScores:
    """A model's signal scores on its test events, split into signal and background, in the
    test sample's order, and its ``WorkingPoint`` at 90 % (``point``), whose attributes it
    answers for (``rejection``, ``interval``, ...). Two ``TestScores`` of the same events (same
    seeds: another gun, readout or core) compare paired (``paired_ratio``)."""
    signal: np.ndarray
    background: np.ndarray
    efficiency: float = 0.90

    @cached_property
    def point(self):
        return working_point(self.signal, self.background, self.efficiency)

    def __getattr__(self, name):  # only for what the dataclass does not hold: the working point's fields
        if name.startswith("__") or name in ("signal", "background", "efficiency", "point"):
            raise AttributeError(name)
        return getattr(self.point, name)

    def __str__(self):
        return str(self.point)


def paired_ratio(numerator, denominator):
    """``metrics.paired_rejection_ratio`` of two ``TestScores`` of the same events."""
    return paired_rejection_ratio(numerator.signal, numerator.background, denominator.signal, denominator.background,
                                  numerator.efficiency)


def rejection_at(logits, labels, efficiency=0.90):
    """The ``TestScores`` of class-2 (signal) against the rest, at ``efficiency``."""
    score = signal_score(logits)
    return TestScores(score[labels == 2], score[labels != 2], efficiency)


def bdt_test_logits(data, seed=1, definitions="atlas"):
    """The shower-shape BDT (``shower_shape_bdt`` on the nine ``SHOWER_SHAPES``, stopped on
    the validation part) trained on a ``LabelledSample``: its logits on the test events, in
    the sample's test order, so two samples of the same seeds compare event by event
    (``metrics.paired_rejection_ratio``)."""
    shapes = shower_shapes(data.sample, ATLAS_ECAL, definitions)
    x = np.column_stack([shapes[name] for name in SHOWER_SHAPES])
    bdt = shower_shape_bdt(x[data.train], data.labels[data.train], x[data.validation], data.labels[data.validation],
                           seed=seed)
    return bdt.predict(x[data.test], output_margin=True)


def bdt_rejection(data, seed=1, definitions="atlas"):
    """``bdt_test_logits``'s ``TestScores``."""
    return rejection_at(bdt_test_logits(data, seed, definitions), data.labels[data.test])


def gbdt_rejection(data, seed=1, max_iter=100):
    """The raw-cell tree (``raw_cell_gbdt``) trained on train + validation; its ``TestScores``."""
    fit = np.concatenate([data.train, data.validation])
    cells = raw_cell_features(data.sample)
    gbdt = raw_cell_gbdt(cells[fit], data.labels[fit], seed=seed, max_iter=max_iter)
    return rejection_at(gbdt_logits(gbdt, cells[data.test]), data.labels[data.test])


def gun_comparison(tasks, events_per_class, seed=1, readout=READOUT_LADDER["published files (deposit + spots)"],
                   guns=GUNS):
    """{(task, gun): ``TestScores`` of the shower-shape BDT} for every task and gun of
    ``guns``, on the published files' digitisation by default. The showers of one task come
    from the same seeds for every gun, so two guns compare paired (``paired_ratio``)."""
    return {(task, name): bdt_rejection(simulated_task(task, events_per_class, readout, seed=seed, **gun), seed=seed)
            for task in tasks for name, gun in guns.items()}


def oracle_features(photon_energy_gev, photon_theta_x_rad, photon_theta_y_rad, rng, detector=ATLAS_ECAL,
                    merge_cells=1.0, position_resolution_cells=0.3):
    """What a detector that saw each photon of a decay would measure: (events, 1 + 3 k).

    Each photon's energy is smeared by the sampling term, E (1 + a/sqrt(E/GeV) N(0, 1)),
    and its position by ``position_resolution_cells`` of a strip in eta and of a middle
    cell in phi. Two photons closer than ``merge_cells`` strips in eta *and* middle cells
    in phi are seen as one, at their energy-weighted position (hardest pairs first). The
    columns: the total energy (GeV), then per photon, hardest first, its share of the
    energy and its eta and phi offsets from the energy centroid (cells); zeros for
    photons the event does not have (``photon_energy_gev`` 0) or that merged.
    """
    energy = np.asarray(photon_energy_gev, dtype=float)
    present = energy > 0
    strip, middle = detector.layer_named("strips").cell_size_rad[1], detector.layer_named("middle").cell_size_rad[0]
    smear = detector.sampling_term / np.sqrt(np.where(present, energy, 1.0))
    energy = np.where(present, energy * np.clip(1 + smear * rng.standard_normal(energy.shape), 0.0, None), 0.0)
    eta = np.asarray(photon_theta_y_rad) / strip + position_resolution_cells * rng.standard_normal(energy.shape)
    phi = np.asarray(photon_theta_x_rad) / middle + position_resolution_cells * rng.standard_normal(energy.shape)
    rows = np.arange(len(energy))[:, None]
    order = np.argsort(-energy, axis=1)
    energy, eta, phi = energy[rows, order], eta[rows, order], phi[rows, order]
    k = energy.shape[1]
    for i in range(k):  # a vectorised greedy merge; k is at most 6
        for j in range(i + 1, k):
            close = ((np.abs(eta[:, i] - eta[:, j]) < merge_cells) & (np.abs(phi[:, i] - phi[:, j]) < merge_cells)
                     & (energy[:, i] > 0) & (energy[:, j] > 0))
            total = np.where(close, energy[:, i] + energy[:, j], 1.0)
            eta[:, i] = np.where(close, (energy[:, i] * eta[:, i] + energy[:, j] * eta[:, j]) / total, eta[:, i])
            phi[:, i] = np.where(close, (energy[:, i] * phi[:, i] + energy[:, j] * phi[:, j]) / total, phi[:, i])
            energy[:, i] = np.where(close, total, energy[:, i])
            energy[:, j] = np.where(close, 0.0, energy[:, j])
    order = np.argsort(-energy, axis=1)
    energy, eta, phi = energy[rows, order], eta[rows, order], phi[rows, order]
    total = energy.sum(axis=1, keepdims=True)
    seen = energy > 0
    centre_eta = (energy * eta).sum(axis=1, keepdims=True) / total
    centre_phi = (energy * phi).sum(axis=1, keepdims=True) / total
    return np.column_stack([total, energy / total, np.where(seen, eta - centre_eta, 0.0),
                            np.where(seen, phi - centre_phi, 0.0)])


def _decay_photons(particle, n_events, rng):
    """Truth photons (energies GeV, angles rad; (events, k)) drawn as the detector's
    simulation draws its primaries (``draw_primaries``), without showers."""
    p4 = draw_primaries(particle, n_events, rng)[3]
    return (p4[..., 0],) + tuple(angles_from_momentum(p4))


def oracle_rejection(task, events_per_class, seed=1, merge_cells=1.0, position_resolution_cells=0.3, max_iter=200):
    """The oracle's ``TestScores``: a gradient-boosted tree (``raw_cell_gbdt``'s) on
    ``oracle_features`` of photons, pi0s and the task's decays, split 70/30. A truth-level
    reference, not a bound on what images can give: it merges photons by a rule, sets its own
    position resolution and trains on other events than the images' models; the caller
    names those choices."""
    if events_per_class < 10:
        raise ParameterError(f"the oracle needs at least 10 events per class, got {events_per_class}")
    rng = np.random.default_rng(seed)
    photons = [_decay_photons(particle, events_per_class, rng) for particle in ("gamma", "pi0", task)]
    k = max(p[0].shape[1] for p in photons)
    features = np.concatenate([
        oracle_features(*(np.pad(a, ((0, 0), (0, k - a.shape[1]))) for a in p), rng, merge_cells=merge_cells,
                        position_resolution_cells=position_resolution_cells) for p in photons])
    labels = np.repeat(np.arange(3), events_per_class)
    train, test = split_indices(len(labels), (0.7, 0.3), seed)
    model = raw_cell_gbdt(features[train], labels[train], seed=seed, max_iter=max_iter)
    return rejection_at(gbdt_logits(model, features[test]), labels[test])


def size_curve_slope(training_events, rejections, errors):
    """Slope b (and its error) of log R = a + b log N, a least-squares fit weighted by each
    rejection's relative error (sigma(log R) = sigma_R / R): R grows as N^b. Needs at least
    three measured points, so that the fit has a residual to judge it by."""
    n, r, e = (np.asarray(v, dtype=float) for v in (training_events, rejections, errors))
    measured = np.isfinite(r) & np.isfinite(e) & (r > 0) & (e > 0)
    if measured.sum() < 3:
        raise ParameterError(f"a training-size slope needs three measured rejections, got {int(measured.sum())}")
    x, y, w = np.log(n[measured]), np.log(r[measured]), (r[measured] / e[measured]) ** 2
    (slope, _), covariance = np.polyfit(x, y, 1, w=np.sqrt(w), cov="unscaled")
    return float(slope), float(np.sqrt(covariance[0, 0]))
