"""Simulated events written to files, ``simulate_to_files``, or kept in memory,
``simulate_sample`` (image detectors: a ``ShowerSample`` with truth). Apart from the
detectors, which know nothing of files, so that the readers in ``io`` can take a
detector's geometry without an import cycle.

Any detector of ``analysis_lib.detectors`` goes: image detectors to HDF5 and/or ROOT shower files
(``io.write_showers``), the LDMX ECAL's hits to one ROOT tree (``io.write_hits``). The
detector is passed as an object, so a notebook that simulates one detector depends on
that detector's module only (the pipeline hashes what a notebook imports).
"""

import numpy as np

from . import __version__
from .errors import ParameterError
from .io import ShowerSample, write_hits, write_showers


def simulate_to_files(detector, particle, n_events, out, seed=0, progress=True, mapper=None, **options):
    """Simulate ``n_events`` of ``particle`` in ``detector`` (e.g. ``ATLAS_ECAL``) and
    write them to each path of ``out`` (HDF5 and/or ROOT by suffix; one ROOT file for
    hits). ``mapper`` runs the random streams (``analysis_lib.dask_workers.ordered_map`` for
    a Dask cluster); the files are the same whichever runs them. Returns the paths."""
    if isinstance(detector, str):
        raise ParameterError(f"simulate_to_files takes the detector itself, not its name {detector!r} "
                             f"(analysis_lib.detectors.DETECTORS maps names to detectors)")
    if not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**63):  # files store it as a 64-bit integer
        raise ParameterError(f"the seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    if detector.yields == "hits":  # one ROOT tree, as LDMX writes them
        mass_mev = 1000.0 * options.get("mass_gev", 0.1)
        chunks = detector.simulate(particle, n_events, seed=seed, mass_mev=mass_mev, mapper=mapper)
        attrs = {"detector": detector.name, "kind": particle, "seed": int(seed), "library_version": __version__,
                 "mass_mev": mass_mev if particle == "signal" else 0.0}
        return [write_hits(chunks, path, n_events, attrs, progress=progress) for path in out[:1]]
    chunks = detector.simulate(particle, n_events, seed=seed, mapper=mapper, **options)
    attrs = {"detector": detector.name, "particle": particle, "seed": int(seed), "library_version": __version__,
             "layer_names": list(detector.layer_names),
             **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}}
    return write_showers(chunks, out, n_events, attrs, progress=progress)


def simulate_sample(detector, particle, n_events, seed=0, **options):
    """Simulate ``n_events`` of ``particle`` in an image ``detector`` into memory: an
    ``io.ShowerSample`` with every truth array the detector produces. For studies that
    compare variants of one detector (readouts) on the same events without files."""
    chunks = list(detector.simulate(particle, n_events, seed=seed, **options))
    layers = [np.concatenate([c[f"layer_{i}"] for c in chunks]) for i in range(len(detector.layers))]
    truth = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0] if not k.startswith("layer_")}
    return ShowerSample(layers, truth, {"detector": detector.name, "particle": particle, "seed": int(seed),
                                        "units": "MeV"})
