"""The dark-photon study in an LDMX-like Si-W ECAL: hits turned into images, a ConvNet
and a mass-parameterised ConvNet, and masses never trained on. The trigger is the
detector's (``LdmxEcal.passes_trigger``); hits are read by ``io.iterate_hits``.

Contents: ``background_mass_hypotheses``, ``ldmx_sources``, ``check_signal_masses``, ``ldmx_hits``,
``HitSummary``, ``hit_summary``,
``iterate_hit_images``, ``hits_to_images``, ``evaluate_per_mass``, ``unseen_mass_verdict``, ``resolving_factor``,
``IMAGE_XY_RANGE_MM``,
``IMAGE_Z_RANGE_MM``, ``hit_images``, ``dark_photon_convnet``.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..detectors import LDMX_ECAL
from ..errors import DataFileError, EmptyDatasetError, ParameterError
from ..io import NEGATIVE_CELLS, count_hit_events, find_hits, iterate_hits, missing_file
from ..metrics import (auc, auc_difference, auc_error, best_threshold, binomial_error, roc_curve, signal_score,
                       summary_at, tolerance_verdict)
from ..training import predict_logits
from ..tensorflow_startup import keras_and_layers

#: The images' span in x and y (mm): the original's grid.
IMAGE_XY_RANGE_MM = (-200.0, 200.0)

#: The images' span in z (mm): the ECAL's silicon layers (the original put z on the x-y grid).
IMAGE_Z_RANGE_MM = (240.0, 530.0)


# -- the samples -----------------------------------------------------------------------
def background_mass_hypotheses(is_signal, masses_gev, choices_gev, seed=0):
    """Mass input of a mass-parameterised classifier: the signal's own A' mass, and for
    background a mass drawn at random from ``choices_gev`` (the original's recipe), so
    the network cannot tell the classes apart by the mass input alone."""
    is_signal, masses_gev = np.asarray(is_signal, bool), np.asarray(masses_gev, float)
    if len(choices_gev) == 0:
        raise ParameterError("the background needs at least one mass to be drawn from")
    drawn = np.random.default_rng(seed).choice(np.asarray(choices_gev, float), size=len(masses_gev))
    return np.where(is_signal, masses_gev, drawn).astype(np.float32)


def ldmx_sources(data_dir, masses_mev):
    """[(name, path, A' mass in GeV)] of a folder's ``background.root`` and its
    ``signal_<m>MeV.root`` for each mass of ``masses_mev``: refused in one sentence,
    naming the ``masses_mev`` parameter and the masses the folder does hold, where a
    file is missing."""
    data_dir = Path(data_dir)
    if not (data_dir / "background.root").is_file():
        raise missing_file(data_dir / "background.root")
    missing = [m for m in masses_mev if not (data_dir / f"signal_{m}MeV.root").is_file()]
    if missing:
        held = sorted(int(m.group(1)) for f in data_dir.glob("signal_*MeV.root")
                      if (m := re.fullmatch(r"signal_(\d+)MeV", f.stem)))
        raise ParameterError(f"{data_dir} has no signal_<m>MeV.root for {', '.join(map(str, missing))} MeV of the "
                             f"parameter masses_mev {list(masses_mev)}; it holds "
                             f"{', '.join(map(str, held)) or 'no'} MeV: set masses_mev to those")
    return [("background", data_dir / "background.root", 0.0)] + \
           [(f"{m} MeV", data_dir / f"signal_{m}MeV.root", m / 1000.0) for m in masses_mev]


def check_signal_masses(wanted_gev, held_gev, what):
    """Refuse, naming the images stage's ``masses_mev``, a training or a comparison that
    needs signal masses the images do not hold (a folder of fewer masses than the profile's)."""
    absent = sorted(set(np.round(np.asarray(wanted_gev) * 1000).astype(int)) -
                    set(np.round(np.asarray(held_gev) * 1000).astype(int)))
    if absent:
        raise ParameterError(f"{what} needs signal of {', '.join(map(str, absent))} MeV, which the images do not hold "
                             f"(they hold {', '.join(f'{m * 1000:g}' for m in sorted(held_gev))} MeV: the masses_mev "
                             f"of the images stage)")


def ldmx_hits(path, hits=None, negative_cells="keep", **options):
    """Chunks of an LDMX hits file (``io.iterate_hits`` with its ``options``): the study's
    own ntuples or ldmx-sw event files (``hits``: a layout to override the one found),
    with calibrated energies turned back into deposited ones by the ECAL's sampling
    fraction, so that every file gives the same quantity. Hits below zero energy
    (noise-subtracted read-outs) are kept, clipped to zero or, with ``"refuse"``, stop
    the reading (``hit_summary`` counts them over the whole file first)."""
    if negative_cells not in NEGATIVE_CELLS:
        raise ParameterError(f"negative_cells must be one of {', '.join(NEGATIVE_CELLS)}, not {negative_cells!r}")
    for chunk in iterate_hits(path, hits=hits, sampling_fraction=LDMX_ECAL.sampling_fraction_at, **options):
        if negative_cells != "keep" and len(chunk["E"]) and np.min(np.asarray(np.ravel(chunk["E"]))) < 0:
            if negative_cells == "refuse":
                raise DataFileError(f"{path} has hits of negative energy, refused as asked")
            chunk["E"] = np.maximum(chunk["E"], 0.0)
        yield chunk


@dataclass(frozen=True)
class HitSummary:
    """What a hits file holds against what its images can show: events, hits and energy
    (MeV), the hits below zero energy, and the hits outside the images' span in x-y or in
    z, which ``hit_images`` adds to the edge pixels."""

    path: str
    events: int
    hits: int
    energy_mev: float
    negative_hits: int
    lowest_energy_mev: float
    outside_xy_hits: int
    outside_xy_energy_mev: float
    outside_z_hits: int
    outside_z_energy_mev: float

    def sentences(self):
        """One sentence per finding a reader should know of, none where all is well; the
        file by its name, as a book page shows it."""
        from pathlib import Path

        name, found = Path(self.path).name, []
        if self.negative_hits:
            found.append(f"{name}: {self.negative_hits} of {self.hits} hits have negative energy "
                         f"(lowest {self.lowest_energy_mev:.3g} MeV)")
        for axis, n, energy, (low, high) in (("x-y", self.outside_xy_hits, self.outside_xy_energy_mev,
                                              IMAGE_XY_RANGE_MM),
                                             ("z", self.outside_z_hits, self.outside_z_energy_mev, IMAGE_Z_RANGE_MM)):
            if n:
                found.append(f"{name}: {n} hit{'s' * (n != 1)} ({100 * energy / max(self.energy_mev, 1e-12):.1f} % of "
                             f"the energy) outside the images' {axis} span {low:g} to {high:g} mm, added to the edge "
                             f"pixels")
        return found


def hit_summary(path, hits=None, negative_cells="keep", step_size=10000):
    """The ``HitSummary`` of a hits file, read a chunk at a time; with ``negative_cells``
    "refuse", a file with any hit below zero energy is refused, their number named."""
    import awkward as ak

    totals = dict.fromkeys(("events", "hits", "energy_mev", "negative_hits", "outside_xy_hits", "outside_xy_energy_mev",
                            "outside_z_hits", "outside_z_energy_mev"), 0)
    lowest = 0.0
    for chunk in ldmx_hits(path, hits, step_size=step_size):
        x, y, z, energy = (np.asarray(ak.flatten(chunk[k]), dtype=np.float64) for k in ("x", "y", "z", "E"))
        outside_xy = (np.minimum(x, y) < IMAGE_XY_RANGE_MM[0]) | (np.maximum(x, y) > IMAGE_XY_RANGE_MM[1])
        outside_z = (z < IMAGE_Z_RANGE_MM[0]) | (z > IMAGE_Z_RANGE_MM[1])
        for key, value in (("events", len(chunk["E"])), ("hits", len(energy)), ("energy_mev", energy.sum()),
                           ("negative_hits", int((energy < 0).sum())), ("outside_xy_hits", int(outside_xy.sum())),
                           ("outside_xy_energy_mev", energy[outside_xy].sum()), ("outside_z_hits",
                                                                                 int(outside_z.sum())),
                           ("outside_z_energy_mev", energy[outside_z].sum())):
            totals[key] += value
        lowest = min(lowest, float(energy.min())) if len(energy) else lowest
    summary = HitSummary(str(path), lowest_energy_mev=lowest, **{k: (int(v) if k.endswith(("hits", "events")) else
                                                                    float(v)) for k, v in totals.items()})
    if negative_cells == "refuse" and summary.negative_hits:
        raise DataFileError(f"{path} has {summary.negative_hits} hits of negative energy (lowest {lowest:.3g} MeV), "
                            f"refused as asked")
    return summary


def _chunk_hit_images(path, start, stop, formats, hits=None, negative_cells="keep"):
    chunk = next(ldmx_hits(path, hits, negative_cells, step_size=stop - start, entry_start=start, entry_stop=stop))
    images, kept = {}, None
    for name, options in formats.items():
        images[name], kept = hit_images(chunk["x"], chunk["y"], chunk["z"], chunk["E"], **options)
    return images, kept


def iterate_hit_images(path, formats, step_size=5000, mapper=None, hits=None, negative_cells="keep"):
    """Images of a hits file (``ldmx_hits``: the study's ``ecalHits`` ntuples or ldmx-sw
    event files; ``hits`` overrides the layout found), one entry range of ``step_size``
    events at a time, each range converted by ``mapper`` (builtin map, or
    ``cluster.ordered_map`` for a Dask cluster; same result). ``formats`` maps a name to
    the options of ``hit_images`` (kind, size, depth, ...); ``negative_cells`` is
    ``ldmx_hits``'s. Yields, per range, the images of its non-empty events per name and
    the number of events read: a file of any size converts in the memory of one range."""
    layout = find_hits(path, hits)
    n = count_hit_events(path, layout)
    if n == 0:
        raise EmptyDatasetError(f"{path} holds no events")
    starts = list(range(0, n, step_size))
    stops = [min(s + step_size, n) for s in starts]
    for (images, _), start, stop in zip((mapper or map)(_chunk_hit_images, [path] * len(starts), starts, stops,
                                                           [formats] * len(starts), [layout] * len(starts),
                                                           [negative_cells] * len(starts)),
                                           starts, stops):
        yield images, stop - start


def hits_to_images(path, formats, step_size=5000, mapper=None, hits=None, negative_cells="keep"):
    """All of ``iterate_hit_images`` at once: the images of every non-empty event per
    name, and the number of events read."""
    chunks = list(iterate_hit_images(path, formats, step_size, mapper, hits, negative_cells))
    return {name: np.concatenate([images[name] for images, _ in chunks]) for name in formats}, sum(n for _, n in chunks)


# -- hits to images --------------------------------------------------------------------
def _nearest_grid_index(values, low, high, n):
    """Index of the nearest of n points linspace(low, high, n) (the original's binning);
    a value halfway between two points goes to the lower one, as argmin does."""
    return np.clip(np.ceil((values - low) / (high - low) * (n - 1) - 0.5), 0, n - 1).astype(np.int64)


def hit_images(x, y, z, energy, kind="xyz", size=20, depth=10, log_depth=False, xy_range_mm=IMAGE_XY_RANGE_MM,
               z_range_mm=IMAGE_Z_RANGE_MM):
    """Images from jagged hits (awkward arrays: per event x, y, z in mm, E in MeV).

    * ``kind="xyz"``: (events, size, size, 3), the x-y, y-z and z-x projections of the
      energy as three channels, each hit on the nearest point of a ``size`` grid;
    * ``kind="z_split"``: (events, size, size, depth), the x-y image in ``depth`` slices
      of z, linear or, with ``log_depth``, logarithmic (fine at the front, where EM
      showers start).

    The original put z on the x-y grid (-200..200 mm), so every ECAL hit (z > 240 mm) fell
    in its last z bin; here z spans the ECAL. A hit beyond the span goes to the edge
    pixel (``hit_summary`` counts them). Each image is divided by its maximum.
    Events without energy are dropped: returns (images, kept) with ``kept`` a boolean
    mask over the input events.
    """
    import awkward as ak

    if kind not in ("xyz", "z_split"):
        raise ParameterError(f"image kind must be 'xyz' or 'z_split', not {kind!r}")
    if size < 2 or depth < 1:
        raise ParameterError(f"image size must be at least 2 and depth at least 1, got {size} and {depth}")
    counts = np.asarray(ak.num(energy))
    flat = {name: np.asarray(ak.flatten(values), dtype=np.float64) for name, values in
            (("x", x), ("y", y), ("z", z), ("E", energy))}
    event = np.repeat(np.arange(len(counts)), counts)
    ix = _nearest_grid_index(flat["x"], *xy_range_mm, size)
    iy = _nearest_grid_index(flat["y"], *xy_range_mm, size)
    if kind == "xyz":
        iz = _nearest_grid_index(flat["z"], *z_range_mm, size)
        images = np.zeros(len(counts) * size * size * 3)
        for channel, (a, b) in enumerate(((ix, iy), (iy, iz), (iz, ix))):
            # bincount on the flat index: the vectorised form of "+= E" per hit
            images += np.bincount(((event * size + a) * size + b) * 3 + channel, flat["E"], minlength=images.size)
        images = images.reshape(len(counts), size, size, 3)
    else:
        low, high = z_range_mm
        if log_depth:
            edges = low - 1.0 + np.geomspace(1.0, high - low + 1.0, depth + 1)
        else:
            edges = np.linspace(low, high, depth + 1)
        iz = np.clip(np.searchsorted(edges, flat["z"], side="right") - 1, 0, depth - 1)
        images = np.bincount(((event * size + ix) * size + iy) * depth + iz, flat["E"],
                             minlength=len(counts) * size * size * depth).reshape(len(counts), size, size, depth)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    kept = peak > 0
    return (images[kept] / peak[kept, None, None, None]).astype(np.float32), kept


# -- evaluation per signal mass -------------------------------------------------------
def evaluate_per_mass(convnet, parameterised, images, masses_gev, labels, test, masses_to_test_gev,
                      trained_masses_gev):
    """Both networks on the ``test`` events (indices), signal mass by signal mass: the
    plain ``convnet`` on the images, the ``parameterised`` one with every event (signal
    and background) given the mass under test as its hypothesis. One row per network
    and mass: the AUC with its test-sample error, and the cut of highest accuracy
    (``metrics.best_threshold``) chosen on every other test event and its fractions measured
    on the rest (``metrics.summary_at``), with their binomial errors on those events, so the
    choice of the cut does not flatter its own numbers; the
    mass input's AUC gain, parameterised minus plain on the same events, with DeLong's
    paired error (``metrics.auc_difference``), on both networks' rows; and the ROC curves,
    {(network, mass in MeV): curve}."""
    background = test[labels[test] == 0]
    plain_background = signal_score(predict_logits(convnet, images[background]))
    rows, curves = [], {}
    for mass in masses_to_test_gev:
        signal = test[np.isclose(masses_gev[test], mass) & (labels[test] == 1)]

        def under_hypothesis(events):
            return [images[events], np.full((len(events), 1), mass, np.float32)]

        scores = {"ConvNet": (signal_score(predict_logits(convnet, images[signal])), plain_background),
                  "mass-parameterised ConvNet": (signal_score(predict_logits(parameterised, under_hypothesis(signal))),
                                                 signal_score(predict_logits(parameterised,
                                                                             under_hypothesis(background))))}
        # the two networks score the same events: their AUC difference has DeLong's paired error
        gain = auc_difference(*scores["mass-parameterised ConvNet"], *scores["ConvNet"])
        for name, (s, b) in scores.items():
            area = auc(s, b)
            # the cut from the even-numbered events, its numbers from the odd: no event both chooses and judges it
            measured_s, measured_b = s[1::2], b[1::2]
            cut = summary_at(measured_s, measured_b, best_threshold(s[::2], b[::2]).threshold)
            passing = cut.signal_acceptance * len(measured_s) + (1 - cut.background_rejection) * len(measured_b)
            fractions = {"accuracy": (cut.accuracy, len(measured_s) + len(measured_b)),
                         "signal acceptance": (cut.signal_acceptance, len(measured_s)),
                         "background rejection": (cut.background_rejection, len(measured_b)),
                         "purity": (cut.purity, max(round(passing), 1))}
            rows.append({"mass [MeV]": round(mass * 1000),
                         "seen in training": bool(np.isclose(trained_masses_gev, mass).any()),
                         "network": name, "AUC": area, "AUC error": auc_error(area, len(s), len(b)),
                         **{k: v for key, (value, n) in fractions.items()
                            for k, v in ((key, value), (f"{key} error", float(binomial_error(value, n))))},
                         "threshold (log-odds)": cut.threshold,
                         "mass input's AUC gain": gain[0], "mass input's AUC gain error": gain[1]})
            curves[(name, round(mass * 1000))] = roc_curve(s, b)
    return pd.DataFrame(rows), curves


def unseen_mass_verdict(four_masses, all_masses, tolerance):
    """Each network at each mass it was not trained on, from two ``evaluate_per_mass``
    tables: the run trained on some masses (``four_masses``, with its "seen in training")
    and the run trained on all. Per network and unseen mass: the AUC, the mean AUC at the
    two trained masses around it, their difference and its verdict against ``tolerance``
    (the study's criterion), the AUC when the mass was in training and the cost of leaving
    it out, each with its test-sample error. The errors of a difference add in quadrature
    as if independent: the AUCs share their background events, which correlates them
    positively, so these errors are upper bounds. The verdict (``metrics.tolerance_verdict``) says
    "not resolved" where two errors of the difference reach across the tolerance, and
    ``resolving_factor`` how much larger a test sample would resolve it."""
    unseen = sorted(four_masses.loc[~four_masses["seen in training"], "mass [MeV]"].unique())
    seen = sorted(four_masses.loc[four_masses["seen in training"], "mass [MeV]"].unique())
    if not unseen:
        raise EmptyDatasetError("no mass was left out of training: the images hold only masses trained on (give the "
                                "images stage a masses_mev with masses between 1, 10, 100 and 1000 MeV)")
    four = four_masses.set_index(["network", "mass [MeV]"])
    trained = all_masses.set_index(["network", "mass [MeV]"])
    rows = []
    for network in four.index.get_level_values(0).unique():
        for m in unseen:
            below, above = max(s for s in seen if s < m), min(s for s in seen if s > m)
            auc_m, error_m = four.loc[(network, m), ["AUC", "AUC error"]]
            (low, low_error), (high, high_error) = (four.loc[(network, n), ["AUC", "AUC error"]]
                                                    for n in (below, above))
            nearby, nearby_error = 0.5 * (low + high), 0.5 * np.hypot(low_error, high_error)
            on_all, on_all_error = (trained.loc[(network, m), ["AUC", "AUC error"]] if (network, m) in trained.index
                                    else (np.nan, np.nan))
            rows.append({"network": network, "unseen mass [MeV]": m, "AUC": auc_m, "AUC error": error_m,
                         "neighbours": f"{below}, {above} MeV", "mean AUC at the neighbours": nearby,
                         "mean AUC at the neighbours error": nearby_error,
                         "difference": auc_m - nearby, "difference error": np.hypot(error_m, nearby_error),
                         "AUC when trained on this mass": on_all, "AUC when trained on this mass error": on_all_error,
                         "cost of not training on it": on_all - auc_m,
                         "cost of not training on it error": np.hypot(on_all_error, error_m)})
    verdict = pd.DataFrame(rows).set_index(["network", "unseen mass [MeV]"])
    verdict["against the tolerance"] = [tolerance_verdict(d, e, tolerance)
                                        for d, e in zip(verdict["difference"], verdict["difference error"])]
    verdict["test sample to resolve it [x this one]"] = [
        resolving_factor(d, e, tolerance) for d, e in zip(verdict["difference"], verdict["difference error"])]
    return verdict


def resolving_factor(difference, error, tolerance, n_sigma=2.0):
    """How many times larger a test sample must be for ``metrics.tolerance_verdict`` to
    resolve ``difference`` against ``tolerance``, if the difference stays what it is and
    its error falls as 1 / sqrt(N): (n_sigma error / | tolerance - |difference| |)^2, at
    least 1 (1 where it is resolved already; infinite where the difference sits on the
    tolerance)."""
    distance = abs(tolerance - abs(difference))
    if distance == 0:
        return np.inf
    return float(max((n_sigma * error / distance) ** 2, 1.0))


# -- the network -----------------------------------------------------------------------
def dark_photon_convnet(input_shape, mass_input=False, dropout=0.3, name=None):
    """The original's ConvNet (Keras): conv 32 (5x5) - pool - conv 64 (5x5) - pool -
    dropout, then dense 500 to two logits (background, signal); with ``mass_input``, the
    mass-parameterised version: dense 20, joined by the A' mass hypothesis (GeV), dense 60."""
    keras, layers = keras_and_layers()

    image = keras.Input(input_shape, name="image")
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(layers.Dropout(dropout)(x))
    if not mass_input:
        x = layers.Dense(500, activation="relu")(x)
        return keras.Model(image, layers.Dense(2, name="logits")(x), name=name or "convnet")
    mass = keras.Input((1,), name="mass_gev")
    x = layers.Concatenate()([layers.Dense(20, activation="relu")(x), mass])
    x = layers.Dense(60, activation="relu")(x)
    return keras.Model([image, mass], layers.Dense(2, name="logits")(x), name=name or "mass_parameterised_convnet")
