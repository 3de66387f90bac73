"""The photon-identification study: a hybrid per-sampling CNN against a cut-based menu
on ATLAS-like photon candidates (photons against jets), validated on radiative Z decays,
exported to ONNX, its efficiency measured with a template fit (``fitting``).

Contents: the samples: ``PHOTON_ID_CLASSES``, ``PHOTON_ID_TRUTH`` (its truth under the
names of the layouts it reads), ``photon_id_truth``, ``photon_id_file``,
``photon_id_sample``; the variables: ``PHOTON_ID_VARIABLES``, ``PHOTON_KEEP_BELOW``,
``check_photon_id_sample``, ``photon_id_variables``, ``hybrid_cnn_inputs``; the
network: ``hybrid_photon_cnn``; the template fit's samples and closure:
``TemplateFitSamples``, ``efficiency_closure``, ``closure_summary``, and its verdict against a
tolerance: ``CLOSURE_TOLERANCE``, ``closure_verdicts``, ``closure_sentence``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import LabelledSample, h5_or_root
from ..detectors import PHOTON_ID_ECAL
from ..detectors.photon_id import PROCESSES
from ..errors import DataFileError, EmptyDatasetError, ParameterError
from ..features import shower_shapes
from ..fitting import template_efficiency
from ..io import ShowerSample, read_showers
from ..metrics import round_to_error, tolerance_verdict
from ..training import split_indices
from ..tensorflow_startup import keras_and_layers

# -- the samples -----------------------------------------------------------------------
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
    return h5_or_root(Path(data_dir) / f"{process}_{kind}")


def photon_id_sample(data_dir, process, events_per_class=None, seed=0, fractions=(0.6, 0.15, 0.25),
                     negative_cells="keep", truth_names=None):
    """Jets (label 0) and photons (1) of one photon-ID process from
    ``{process}_{jet,photon}.h5`` (or ``.root``), truth as ``photon_id_truth`` names it,
    split into train / validation / test."""
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


# -- the variables ---------------------------------------------------------------------
#: The photon-ID variables: the cut-based menu's and the CNN's scalar inputs (as the
#: original, which gives its network the presampler sum besides the images).
PHOTON_ID_VARIABLES = ("r_had", "r_eta", "r_phi", "w_eta2", "w_s3", "w_stot", "f_side", "delta_e_s", "e_ratio")


#: The side of each variable where photons sit: True when photons have low values.
PHOTON_KEEP_BELOW = {"r_had": True, "r_eta": False, "r_phi": False, "w_eta2": True, "w_s3": True, "w_stot": True,
                     "f_side": True, "delta_e_s": True, "e_ratio": False}


def check_photon_id_sample(sample, detector):
    """Refuse a sample the photon-ID code cannot use, with one sentence."""
    if len(sample) == 0:
        raise EmptyDatasetError("the photon-ID sample holds no events")
    for layer, expected, name in zip(sample.layers, detector.layer_shapes, detector.layer_names):
        if layer.shape[1:] != tuple(expected):
            raise ParameterError(f"the {name} images are {layer.shape[1:]} cells, the photon-ID cluster needs "
                                 f"{expected}")
        if not np.all(np.isfinite(layer)):
            raise ParameterError(f"the {name} images hold NaN or infinite energies")
    missing = [k for k in ("abs_eta", "hadronic_energy_gev") if k not in sample.truth]
    if missing:
        raise ParameterError(f"the photon-ID sample needs per-event {' and '.join(missing)}")


def photon_id_variables(sample, detector):
    """The shower shapes of ``shower_shapes`` plus, per candidate, E_T (GeV, the cluster
    energy over cosh eta), |eta|, the presampler fraction and
    R_had = E_T(hadronic calorimeter) / E_T."""
    check_photon_id_sample(sample, detector)
    variables = shower_shapes(sample, detector)
    abs_eta = np.asarray(sample.truth["abs_eta"], float)
    layer_e = sample.layer_energy_gev()
    et = layer_e.sum(axis=1) / np.cosh(abs_eta)
    hadronic_et = np.asarray(sample.truth["hadronic_energy_gev"], float) / np.cosh(abs_eta)
    variables.update(et_gev=et, abs_eta=abs_eta, r_had=hadronic_et / np.maximum(et, 1e-6),
                     presampler_fraction=layer_e[:, 0] / np.maximum(layer_e.sum(axis=1), 1e-9))
    return variables


def hybrid_cnn_inputs(sample, detector):
    """Inputs of the hybrid CNN: strips, middle and back images (events, phi, eta, 1), each
    cell divided by its layer's energy (the original's normalisation; negative, noise-
    subtracted cells are set to zero first so that the fractions stay in [0, 1]), and the scalars
    (presampler fraction, R_had, |eta|, log(E_T / 10 GeV))."""
    variables = photon_id_variables(sample, detector)
    images = []
    for layer in sample.layers[1:]:
        layer = np.clip(layer.astype(np.float64), 0, None)
        images.append((layer / np.maximum(layer.sum(axis=(1, 2), keepdims=True), 1e-9))[..., None].astype(np.float32))
    scalars = np.stack([variables["presampler_fraction"], np.clip(variables["r_had"], -0.5, 1.0), variables["abs_eta"],
                        np.log(np.maximum(variables["et_gev"], 1.0) / 10.0)], axis=1).astype(np.float32)
    return images + [scalars]


# -- the network -----------------------------------------------------------------------
def hybrid_photon_cnn(layer_shapes, n_scalars, filters=64, dense=64, noise=0.1, name="hybrid_photon_cnn"):
    """The photon-ID hybrid CNN: one convolutional branch per sampling (strips, middle,
    back; ``layer_shapes`` as (phi, eta)), flattened and merged with the scalar inputs,
    then a dense head with Gaussian noise as regulariser; two logits (jet, photon).

    Branches as in the original: selu, LeCun-normal weights, valid convolutions; the
    fine-grained strips pool along eta, middle and back along phi. The original used
    256 filters and 128 units; the head's last two layers here have selu too.
    """
    keras, layers = keras_and_layers()

    conv = dict(activation="selu", kernel_initializer="lecun_normal")
    design = {"strips": ((2, 2), (1, 2), (1, 2)), "middle": ((2, 2), (2, 1), (2, 1)), "back": ((2, 2), (2, 1), (2, 1))}
    inputs, branches = [], []
    for (layer, (k1, k2, pool)), shape in zip(design.items(), layer_shapes):
        x = image = keras.Input(tuple(shape) + (1,), name=layer)
        x = layers.Conv2D(filters, k1, **conv)(x)
        x = layers.MaxPooling2D(pool)(x)
        x = layers.Conv2D(filters, k2, **conv)(x)
        x = layers.MaxPooling2D(pool)(x)
        inputs.append(image)
        branches.append(layers.Flatten()(x))
    scalars = keras.Input((n_scalars,), name="scalars")
    x = layers.Concatenate()(branches + [scalars])
    for i in range(3):
        x = layers.Dense(dense, **conv)(x)
        x = layers.GaussianNoise(noise)(x) if i < 2 else x
    return keras.Model(inputs + [scalars], layers.Dense(2)(x), name=name)


# -- the template fit: its samples and its closure --------------------------------------
@dataclass
class TemplateFitSamples:
    """Radiative-Z candidates as a template-fit closure uses them: their m_llgamma (GeV)
    and the indices of the true photons and of the Z + jets fakes inside ``edges``.

    The candidates' own distribution stands for the truth (a bootstrap): a
    pseudo-experiment's data are Poisson numbers of candidates drawn from it with
    replacement, and its signal and background control templates (the original's
    Z + jets template) are resamples of it of the full sample's size, so data and
    templates fluctuate about the same parent as independent data and simulation would.
    Splitting the candidates into a template half and a data half instead would make
    every pseudo-data sample repeat one half's fluctuations, which the fit knows nothing
    of: a bias with a fixed split, an excess width with a new split each time (both
    measured when this was written)."""

    mass: np.ndarray
    edges: np.ndarray
    photons: np.ndarray
    fakes: np.ndarray

    @classmethod
    def of(cls, mass_gev, is_photon, edges):
        mass_gev, is_photon = np.asarray(mass_gev, float), np.asarray(is_photon, bool)
        in_range = (mass_gev >= edges[0]) & (mass_gev < edges[-1])
        photons, fakes = np.flatnonzero(in_range & is_photon), np.flatnonzero(in_range & ~is_photon)
        if min(len(photons), len(fakes)) < 2:
            raise EmptyDatasetError(f"a template fit needs photons and fakes in {edges[0]:g}-{edges[-1]:g} GeV, got "
                                    f"{len(photons)} and {len(fakes)}")
        return cls(mass_gev, np.asarray(edges, float), photons, fakes)

    def histogram(self, events):
        return np.histogram(self.mass[events], self.edges)[0]

    def pseudo_data(self, rng, n_signal, n_background):
        """Candidates of one pseudo-experiment: Poisson numbers of photons and fakes."""
        return np.concatenate([rng.choice(self.photons, rng.poisson(n_signal)),
                               rng.choice(self.fakes, rng.poisson(n_background))])

    def templates(self, passed, rng=None):
        """(signal template, (control template of the fakes passing the ID, of those
        failing it)), as counts: the whole sample's, or with ``rng`` a bootstrap resample
        of it, as an independent simulation would give. The control sample is split by
        the ID as the data are, since the ID's efficiency for jets grows with their E_T,
        and so with m_llgamma."""
        pick = (lambda e: rng.choice(e, len(e))) if rng is not None else (lambda e: e)
        fakes, passed = pick(self.fakes), np.asarray(passed, bool)
        return self.histogram(pick(self.photons)), (self.histogram(fakes[passed[fakes]]),
                                                    self.histogram(fakes[~passed[fakes]]))

    def true_efficiency(self, passed, window):
        """The fraction of true photons in ``window`` that pass: what the fit measures."""
        inside = (self.mass[self.photons] >= window[0]) & (self.mass[self.photons] < window[1])
        return float(np.asarray(passed, bool)[self.photons][inside].mean())


def efficiency_closure(samples, passes, window, n_pseudo, n_signal, n_background, rng, background="template",
                       progress=None):
    """Pulls (eps_fit - eps_true) / sigma and fitted efficiencies of ``n_pseudo``
    pseudo-experiments (``TemplateFitSamples``: data and templates drawn anew each time),
    for each ID of ``passes`` ({name: pass flag per candidate}). ``background``:
    "template" (the control sample's shape) or a Bernstein degree. Fits that do not
    converge are left out (``closure_summary`` counts what is kept).
    Returns {name: (pulls, fitted efficiencies)}."""
    pulls = {name: ([], []) for name in passes}
    truth = {name: samples.true_efficiency(passed, window) for name, passed in passes.items()}
    for _ in (progress or range)(n_pseudo):
        data = samples.pseudo_data(rng, n_signal, n_background)
        for name, passed in passes.items():
            passed = np.asarray(passed, bool)
            signal_template, control = samples.templates(passed, rng)
            counts = samples.histogram(data[passed[data]]), samples.histogram(data[~passed[data]])
            eff, error, pass_fit, fail_fit = template_efficiency(
                *counts, samples.edges, signal_template, degree=background if background != "template" else 0,
                window=window, background_template=control if background == "template" else None)
            if pass_fit.valid and fail_fit.valid and error > 0:
                pulls[name][0].append((eff - truth[name]) / error)
                pulls[name][1].append(eff)
    return {name: (np.array(p), np.array(f)) for name, (p, f) in pulls.items()}


def closure_summary(closure, truth):
    """One row per ID: pseudo-experiments kept, the pull mean with its error, the pull
    width with its error (sigma / sqrt(2 (n - 1))), the mean fitted efficiency with its
    error and the true efficiency (``fitting.CLOSURE_ERRORS`` pairs them)."""
    import pandas as pd

    rows = []
    for name, (pulls, fitted) in closure.items():
        n = len(pulls)
        if n < 2:
            raise EmptyDatasetError(f"{name}: {n} of the pseudo-experiments' fits converged, too few for a closure")
        width = pulls.std(ddof=1)
        rows.append({"ID": name, "pseudo-experiments": n, "pull mean": pulls.mean(),
                     "error of the mean": width / np.sqrt(n),
                     "pull width": width, "error of the width": width / np.sqrt(2 * (n - 1)),
                     "mean fitted efficiency": fitted.mean(),
                     "error of the mean efficiency": fitted.std(ddof=1) / np.sqrt(n), "true efficiency": truth[name]})
    return pd.DataFrame(rows).set_index("ID")


#: What a closure must show to call a template fit unbiased: its bias (the pull mean) below a
#: fifth of one measurement's statistical error, and the quoted error right to 10 % (pull width
#: within 0.1 of one). An equivalence needs a tolerance: a closure whose pull mean is merely not
#: significant says nothing when its pseudo-experiments are few.
CLOSURE_TOLERANCE = {"pull mean": 0.2, "pull width": 0.1}


def closure_verdicts(row, tolerance=CLOSURE_TOLERANCE):
    """{"pull mean": verdict, "pull width": verdict} of one ``closure_summary`` row, each
    ``metrics.tolerance_verdict`` ("within", "beyond", "not resolved") of the bias, and of
    the width's distance from one, against ``tolerance`` at two errors."""
    return {"pull mean": tolerance_verdict(row["pull mean"], row["error of the mean"], tolerance["pull mean"]),
            "pull width": tolerance_verdict(row["pull width"] - 1, row["error of the width"],
                                            tolerance["pull width"])}


def closure_sentence(name, row, model_name, tolerance=CLOSURE_TOLERANCE):
    """(whether the closure holds, the sentence) of one ID: the bias in units of one
    measurement's statistical error and the pull width, each with its verdict against
    ``tolerance``, and the mean fitted efficiency against the true one with their difference
    in its own errors, all stated as measured."""
    verdicts = closure_verdicts(row, tolerance)
    difference = row["mean fitted efficiency"] - row["true efficiency"]
    error = row["error of the mean efficiency"]
    holds = all(v == "within" for v in verdicts.values())
    against = {"within": "within", "beyond": "beyond", "not resolved": "not resolved against"}
    status = "closes" if holds else "does not close" if "beyond" in verdicts.values() else "is not resolved"
    return holds, (
        f"**{name}** {status} with {model_name} over {int(row['pseudo-experiments'])} pseudo-experiments: "
        f"bias {round_to_error(row['pull mean'], row['error of the mean'])} of one measurement's error "
        f"({against[verdicts['pull mean']]} the tolerance of {tolerance['pull mean']:g}), pull width "
        f"{round_to_error(row['pull width'], row['error of the width'])} ({against[verdicts['pull width']]} 1 ± "
        f"{tolerance['pull width']:g}); mean fitted efficiency {round_to_error(row['mean fitted efficiency'], error)} "
        f"against a true {row['true efficiency']:.4f}, a difference of {difference / error:+.1f} of its error.")
