"""Fast, physics-based simulations of the studies' detectors, on one shower model."""

from .atlas_ecal import ATLAS_ECAL, AtlasLikeEcal
from .kinematics import PARTICLES
from .shashlik import SHASHLIK_ECAL, ShashlikEcal

#: Detector name (as given on the command line) -> detector.
DETECTORS = {"atlas-ecal": ATLAS_ECAL, "shashlik": SHASHLIK_ECAL}

__all__ = ["ATLAS_ECAL", "AtlasLikeEcal", "DETECTORS", "PARTICLES", "SHASHLIK_ECAL", "ShashlikEcal"]


def simulate_to_files(detector, particle, n_events, out, seed=0, progress=True, **options):
    """Simulate ``n_events`` of ``particle`` in ``detector`` (a name of DETECTORS)
    and write them to each path of ``out`` (HDF5 and/or ROOT by suffix)."""
    from .. import __version__
    from ..errors import ParameterError
    from ..io import write_showers

    if detector not in DETECTORS:
        raise ParameterError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    sim = DETECTORS[detector]
    chunks = sim.simulate(particle, n_events, seed=seed, **options)
    attrs = {"detector": detector, "particle": particle, "seed": int(seed), "library_version": __version__,
             "layer_names": list(sim.layer_names),
             **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}}
    return write_showers(chunks, out, n_events, attrs, progress=progress)
