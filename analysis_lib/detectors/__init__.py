"""Fast, physics-based simulations of the studies' detectors, on one shower model."""

import numpy as np

from .atlas_ecal import ATLAS_ECAL, AtlasLikeEcal
from .kinematics import PARTICLES
from .lartpc import LARTPC, LarTpc
from .ldmx_ecal import LDMX_ECAL, SIGNAL_MASSES_MEV, LdmxEcal
from .photon_id import PHOTON_ID_ECAL, PhotonIdEcal
from .shashlik import SHASHLIK_ECAL, ShashlikEcal

#: Detector name (as given on the command line) -> detector.
DETECTORS = {"atlas-ecal": ATLAS_ECAL, "shashlik": SHASHLIK_ECAL, "ldmx-ecal": LDMX_ECAL, "lartpc": LARTPC,
             "photon-id": PHOTON_ID_ECAL}

__all__ = ["ATLAS_ECAL", "AtlasLikeEcal", "DETECTORS", "LARTPC", "LDMX_ECAL", "LarTpc", "LdmxEcal", "PARTICLES", "PHOTON_ID_ECAL",
           "PhotonIdEcal", "SHASHLIK_ECAL", "SIGNAL_MASSES_MEV", "ShashlikEcal"]


def simulate_to_files(detector, particle, n_events, out, seed=0, progress=True, mapper=None, **options):
    """Simulate ``n_events`` of ``particle`` in ``detector`` (a name of DETECTORS)
    and write them to each path of ``out`` (HDF5 and/or ROOT by suffix). ``mapper``
    runs the random streams (``analysis_lib.cluster.ordered_map`` for a Dask cluster);
    the files are the same whichever runs them."""
    from .. import __version__
    from ..errors import ParameterError
    from ..io import write_showers

    if detector not in DETECTORS:
        raise ParameterError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**63):  # files store it as a 64-bit integer
        raise ParameterError(f"the seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    sim = DETECTORS[detector]
    if isinstance(sim, LdmxEcal):  # hits, not images: one ROOT tree, as LDMX writes them
        from ..io import write_hits

        mass_mev = 1000.0 * options.get("mass_gev", 0.1)
        chunks = sim.simulate(particle, n_events, seed=seed, mass_mev=mass_mev, mapper=mapper)
        attrs = {"detector": detector, "kind": particle, "seed": int(seed), "library_version": __version__,
                 "mass_mev": mass_mev if particle == "signal" else 0.0}
        return [write_hits(chunks, path, n_events, attrs, progress=progress) for path in out[:1]]
    if isinstance(sim, PhotonIdEcal):  # candidates of a process, at the process's E_T spectrum
        options = {k: v for k, v in options.items() if k in ("process", "conversion_fraction")}
    chunks = sim.simulate(particle, n_events, seed=seed, mapper=mapper, **options)
    attrs = {"detector": detector, "particle": particle, "seed": int(seed), "library_version": __version__,
             "layer_names": list(sim.layer_names),
             **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}}
    return write_showers(chunks, out, n_events, attrs, progress=progress)
