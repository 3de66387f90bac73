"""Fast, physics-based simulations of the studies' detectors, on one shower model.

Every detector has a ``name`` (as the command line calls it), ``yields`` ("images" or
"hits"), the ``particles`` it simulates, the ``options`` its ``simulate`` takes beyond
them (energy, mass, process), ``layer_names`` and ``layer_shapes`` (image detectors), and
``simulate(particle, n_events, seed=..., mapper=..., **options)`` yielding chunks.

Contents: ``ATLAS_ECAL`` (``AtlasLikeEcal``), ``PHOTON_ID_ECAL`` (``PhotonIdEcal``),
``SHASHLIK_ECAL`` (``ShashlikEcal``), ``LDMX_ECAL`` (``LdmxEcal``,
``SIGNAL_MASSES_MEV``), ``LARTPC`` (``LarTpc``), ``PARTICLES``, ``DETECTORS`` (name ->
detector), ``Readout`` (which readout effects an image detector applies). Writing
their events to files is ``analysis_lib.simulation``'s (the detectors know no files).
"""

from .atlas_ecal import ATLAS_ECAL, AtlasLikeEcal
from .kinematics import PARTICLES
from .lartpc import LARTPC, LarTpc
from .ldmx_ecal import LDMX_ECAL, SIGNAL_MASSES_MEV, LdmxEcal
from .photon_id import PHOTON_ID_ECAL, PhotonIdEcal
from .shashlik import SHASHLIK_ECAL, ShashlikEcal
from .shower import Readout

#: Detector name (as given on the command line) -> detector.
DETECTORS = {d.name: d for d in (ATLAS_ECAL, SHASHLIK_ECAL, LDMX_ECAL, LARTPC, PHOTON_ID_ECAL)}

__all__ = ["ATLAS_ECAL", "AtlasLikeEcal", "DETECTORS", "LARTPC", "LDMX_ECAL", "LarTpc", "LdmxEcal", "PARTICLES",
           "PHOTON_ID_ECAL", "PhotonIdEcal", "Readout", "SHASHLIK_ECAL", "SIGNAL_MASSES_MEV", "ShashlikEcal"]
