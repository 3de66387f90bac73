"""Datasets of the studies, assembled from shower and hit files with fixed, seeded splits.

Contents: ``LabelledSample``; photon-jets: ``PHOTON_JET_TASKS``, ``PHOTON_JET_CLASSES``,
``PHOTON_JET_TRUTH`` (the truth names of the layouts it reads), ``photon_jet_truth``,
``photon_jet_file``, ``photon_jet_task``; dark photons: ``background_mass_hypotheses``,
``ldmx_hits``, ``hits_to_images``; LArTPC: ``lartpc_images``; photon ID:
``PHOTON_ID_CLASSES``, ``PHOTON_ID_TRUTH`` (its truth under the names of the layouts it
reads), ``photon_id_truth``, ``photon_id_file``, ``photon_id_sample``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataFileError, EmptyDatasetError, ParameterError
from .io import ShowerSample, read_showers
from .training import split_indices

#: Photon-jet tasks: the signal of each, against photons and pi0s.
PHOTON_JET_TASKS = {"scalar1": "h2 -> pi0 pi0", "axion1": "a -> gamma gamma", "axion2": "a -> 3 pi0"}
PHOTON_JET_CLASSES = ("gamma", "pi0", "signal")


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


#: The photon-jet study's files: ``<particle>_<energy_tag>.h5`` (or ``.root``), four layers
#: (4x16, 4x128, 16x16, 16x8 cells, phi x eta, MeV). Truth it uses, all optional, under
#: its names in the files it knows: this library's simulation and the published dataset
#: of arXiv 2401.15690 (``{gamma,pi0,scalar1,axion1,axion2}_40-250GeV_100k.h5``, float64,
#: no ``units`` attribute, ``energy`` (N, 1) in GeV, ``overflow`` (N, 4) in MeV).
PHOTON_JET_TRUTH = {"energy_gev": ("energy_gev", "energy"), "overflow_mev": ("overflow",)}


def photon_jet_truth(sample):
    """The study's truth from a sample read from any known layout: {name: array}, only
    what the file holds (the efficiency-against-energy figure needs ``energy_gev``)."""
    found = {}
    for name, aliases in PHOTON_JET_TRUTH.items():
        key = next((k for k in aliases if k in sample.truth), None)
        if key is not None:  # the published files store the energy as (N, 1)
            values = sample.truth[key]
            found[name] = values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values
    return found


def photon_jet_file(data_dir, particle, energy_tag):
    """``<particle>_<energy_tag>.h5`` in ``data_dir``, or ``.root`` where only that exists."""
    return _h5_or_root(Path(data_dir) / f"{particle}_{energy_tag}")


def _h5_or_root(stem):
    h5, root = stem.parent / f"{stem.name}.h5", stem.parent / f"{stem.name}.root"  # a tag may hold a dot
    return root if root.exists() and not h5.exists() else h5


def photon_jet_task(data_dir, task, energy_tag="40-250GeV", events_per_class=None, seed=0,
                    fractions=(0.56, 0.14, 0.3), negative_cells="keep"):
    """gamma (label 0), pi0 (1) and the task's signal (2), split 56/14/30 into
    train / validation / test (70/30 as the original, with a fifth of the
    training part held out for early stopping). Reads only ``events_per_class`` events
    of each file; truth as ``photon_jet_truth`` finds it."""
    if task not in PHOTON_JET_TASKS:
        raise ParameterError(f"unknown photon-jet task {task!r}; choose one of {', '.join(PHOTON_JET_TASKS)}")
    parts = [read_showers(photon_jet_file(data_dir, name, energy_tag), stop=events_per_class,
                          negative_cells=negative_cells) for name in ("gamma", "pi0", task)]
    labels = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    truths = [photon_jet_truth(p) for p in parts]
    common = set(truths[0]).intersection(*truths[1:])  # real data may carry no truth
    truth = {k: np.concatenate([t[k] for t in truths]) for k in sorted(common)}
    sample = ShowerSample([np.concatenate([p.layers[i] for p in parts]) for i in range(len(parts[0].layers))],
                          truth, {"task": task})
    train, validation, test = split_indices(len(labels), fractions, seed)
    return LabelledSample(sample, labels, PHOTON_JET_CLASSES, train, validation, test)


def background_mass_hypotheses(is_signal, masses_gev, choices_gev, seed=0):
    """Mass input of a mass-parameterised classifier: the signal's own A' mass, and for
    background a mass drawn at random from ``choices_gev`` (the original's recipe), so
    the network cannot tell the classes apart by the mass input alone."""
    is_signal, masses_gev = np.asarray(is_signal, bool), np.asarray(masses_gev, float)
    if len(choices_gev) == 0:
        raise ParameterError("the background needs at least one mass to be drawn from")
    drawn = np.random.default_rng(seed).choice(np.asarray(choices_gev, float), size=len(masses_gev))
    return np.where(is_signal, masses_gev, drawn).astype(np.float32)


def lartpc_images(data_dir, classes=None, negative_cells="keep"):
    """The LArTPC study's images, one HDF5 file per class (``<class>.h5``, a single layer
    of wires x ticks), scaled to their maxima with a channel axis, and the class labels
    (the class's index in ``lartpc.CLASSES``, from the file name, so a file needs no
    label array): (images, labels)."""
    from .detectors.lartpc import CLASSES, LARTPC
    from .features import scaled_images

    names = classes or CLASSES
    samples = [read_showers(Path(data_dir) / f"{name}.h5", detector=LARTPC, negative_cells=negative_cells)
               for name in names]
    images = scaled_images(np.concatenate([s.layers[0] for s in samples]))
    return images, np.concatenate([np.full(len(s), CLASSES.index(name)) for s, name in zip(samples, names)])


PHOTON_ID_CLASSES = ("jet", "photon")

#: The photon-ID study's per-candidate truth, and the names it goes by in the files it
#: knows: this library's simulation and common ntuple names. Required: ``abs_eta`` (a
#: signed ``eta`` is folded) and the hadronic leakage, either as ``hadronic_energy_gev``
#: or as the ratio R_had = E_T(had) / E_T (``rhad``, ``rhad1``), turned into an energy
#: with the cluster's own energy. Optional: ``m_llgamma_gev`` (radiative Z only, for the
#: template fit). E_T is always the cluster's (cells / cosh eta), so a file's ``et`` is
#: not needed. ``truth_names`` ({study name: name in the file}) adds names not listed.
PHOTON_ID_TRUTH = {"abs_eta": ("abs_eta", "eta"), "hadronic_energy_gev": ("hadronic_energy_gev",),
                   "r_had": ("rhad", "rhad1", "r_had"), "m_llgamma_gev": ("m_llgamma_gev", "mllg", "m_llg")}


def photon_id_truth(sample, truth_names=None):
    """``sample`` with its truth renamed to the study's names (``PHOTON_ID_TRUTH``); the
    file's other truth arrays are kept. Refuses, in one sentence, a mapping to a name the
    file lacks or a file without |eta| or the hadronic leakage."""
    truth_names = dict(truth_names or {})
    unknown = set(truth_names) - set(PHOTON_ID_TRUTH)
    if unknown:
        raise ParameterError(f"truth_names maps {sorted(unknown)[0]!r}, which the photon-ID study does not use; "
                             f"it uses {', '.join(PHOTON_ID_TRUTH)}")
    for name, key in truth_names.items():
        if key not in sample.truth:
            raise DataFileError(f"{sample.path} has no {key!r} (truth_names takes it as {name}); it holds "
                                f"{', '.join(sorted(sample.truth)) or 'no per-event arrays'}")
    found = {}
    for name, aliases in PHOTON_ID_TRUTH.items():
        key = truth_names.get(name) or next((k for k in aliases if k in sample.truth), None)
        if key is not None:
            found[name] = np.asarray(sample.truth[key], float).reshape(len(sample))
    if "abs_eta" in found:
        found["abs_eta"] = np.abs(found["abs_eta"])
    if "hadronic_energy_gev" not in found and "r_had" in found:
        found["hadronic_energy_gev"] = found["r_had"] * sample.total_energy_gev()  # same eta for both E_T
    found.pop("r_had", None)
    missing = [n for n in ("abs_eta", "hadronic_energy_gev") if n not in found]
    if missing:
        raise DataFileError(f"{sample.path} holds no {' and no '.join(missing)} (under any of "
                            f"{', '.join(PHOTON_ID_TRUTH[missing[0]])}); name yours with truth_names")
    return ShowerSample(sample.layers, {**sample.truth, **found}, sample.attrs, sample.path)


def photon_id_file(data_dir, process, kind):
    """``{process}_{kind}.h5`` in ``data_dir``, or ``.root`` where only that exists."""
    return _h5_or_root(Path(data_dir) / f"{process}_{kind}")


def photon_id_sample(data_dir, process, events_per_class=None, seed=0, fractions=(0.6, 0.15, 0.25),
                     negative_cells="keep", truth_names=None):
    """Jets (label 0) and photons (1) of one photon-ID process from
    ``{process}_{jet,photon}.h5`` (or ``.root``), truth as ``photon_id_truth`` names it,
    split into train / validation / test."""
    from .detectors import PHOTON_ID_ECAL
    from .detectors.photon_id import PROCESSES

    if process not in PROCESSES:
        raise ParameterError(f"unknown photon-ID process {process!r}; choose one of {', '.join(PROCESSES)}")
    if process != "radiative_z":  # the only process with a dilepton
        truth_names = {k: v for k, v in (truth_names or {}).items() if k != "m_llgamma_gev"}
    parts = [photon_id_truth(read_showers(photon_id_file(data_dir, process, kind), stop=events_per_class,
                                          detector=PHOTON_ID_ECAL, negative_cells=negative_cells), truth_names)
             for kind in PHOTON_ID_CLASSES]
    keys = set(parts[0].truth) & set(parts[1].truth)
    labels = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    sample = ShowerSample([np.concatenate([p.layers[i] for p in parts]) for i in range(len(parts[0].layers))],
                          {k: np.concatenate([p.truth[k] for p in parts]) for k in keys}, {"process": process})
    train, validation, test = split_indices(len(labels), fractions, seed)
    return LabelledSample(sample, labels, PHOTON_ID_CLASSES, train, validation, test)


def ldmx_hits(path, hits=None, **options):
    """Chunks of an LDMX hits file (``io.iterate_hits`` with its ``options``): the study's
    own ntuples or ldmx-sw event files (``hits``: a layout to override the one found),
    with calibrated energies turned back into deposited ones by the ECAL's sampling
    fraction, so that every file gives the same quantity."""
    from .detectors import LDMX_ECAL
    from .io import iterate_hits

    return iterate_hits(path, hits=hits, sampling_fraction=LDMX_ECAL.sampling_fraction_at, **options)


def _chunk_hit_images(path, start, stop, formats, hits=None):
    from .features import hit_images

    chunk = next(ldmx_hits(path, hits, step_size=stop - start, entry_start=start, entry_stop=stop))
    images, kept = {}, None
    for name, options in formats.items():
        images[name], kept = hit_images(chunk["x"], chunk["y"], chunk["z"], chunk["E"], **options)
    return images, kept


def hits_to_images(path, formats, step_size=5000, mapper=None, hits=None):
    """Images of every event of a hits file (``ldmx_hits``: the study's ``ecalHits``
    ntuples or ldmx-sw event files; ``hits`` overrides the layout found), read in entry
    ranges of ``step_size`` events, each range converted by ``mapper`` (builtin map, or
    ``cluster.ordered_map`` for a Dask cluster; same result). ``formats`` maps a name
    to the options of ``features.hit_images`` (kind, size, depth, ...). Returns the
    images of the non-empty events per name, and the number of events read."""
    from .io import count_hit_events, find_hits

    layout = find_hits(path, hits)
    n = count_hit_events(path, layout)
    if n == 0:
        raise EmptyDatasetError(f"{path} holds no events")
    starts = list(range(0, n, step_size))
    results = list((mapper or map)(_chunk_hit_images, [path] * len(starts), starts,
                                   [min(s + step_size, n) for s in starts], [formats] * len(starts),
                                   [layout] * len(starts)))
    images = {name: np.concatenate([r[0][name] for r in results]) for name in formats}
    return images, n
