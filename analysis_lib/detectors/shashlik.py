"""A COMPASS ECAL2-like shashlik calorimeter: one layer of 3.83 cm square cells.

Lead (0.8 mm) and scintillator (1.5 mm) tiles, 22 X0 deep, read out per cell
without longitudinal segmentation, so each cell collects its whole depth. The
cells are about one Moliere radius wide. Photons come from a target
``target_distance_mm`` upstream, so their showers run inclined by
atan(x/L), atan(y/L): the shower axis moves by tan(theta) * depth inside the
block, more the farther the cell is from the beam axis.

Files use the ATLAS-ECAL layout with a single layer ``layer_0`` of shape
(25, 49) (y rows, x columns), in MeV, so the same reader validates them.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..dask_workers import map_streams
from ..errors import ParameterError
from .materials import LEAD, POLYSTYRENE, SamplingStack
from .kinematics import check_event_request
from .shower import GFlashParameters, axis_jitter_rm, digitise_cells, make_showers, slice_cell_energies

EVENTS_PER_STREAM = 1000


@dataclass(frozen=True)
class CellLayer:
    """The one readout layer: ``n_y`` x ``n_x`` square cells of ``cell_mm``, centred on the beam axis."""

    name: str
    n_y: int
    n_x: int
    cell_mm: float
    noise_mev: float

    @property
    def shape(self):
        return (self.n_y, self.n_x)

    @property
    def x_edges_mm(self):
        return (np.arange(self.n_x + 1) - self.n_x / 2) * self.cell_mm

    @property
    def y_edges_mm(self):
        return (np.arange(self.n_y + 1) - self.n_y / 2) * self.cell_mm


@dataclass(frozen=True)
class ShashlikEcal:
    name: ClassVar[str] = "shashlik"
    yields: ClassVar[str] = "images"
    particles: ClassVar[tuple] = ("gamma", "diphoton")
    options: ClassVar[frozenset] = frozenset({"energy"})
    stack: SamplingStack = SamplingStack(LEAD, 0.8, POLYSTYRENE, 1.5)
    layers: tuple = (CellLayer("shashlik", 25, 49, 38.3, noise_mev=5.0),)
    depth_x0: float = 22.0
    target_distance_mm: float = 33000.0
    sampling_term: float = 0.07  # sigma/E = a / sqrt(E / GeV)
    constant_term: float = 0.01
    zero_suppression_sigma: float = 3.0
    n_slices: int = 8
    # Intrinsic centroid fluctuation per axis: 0.15 R_M / sqrt(E / GeV), about 5 mm/sqrt(E),
    # the stochastic part of the GAMS/COMPASS position resolution (physics.md, section 7).
    lateral_fluctuation_rm: float = 0.15
    gflash: GFlashParameters = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "gflash", GFlashParameters(self.stack))

    @property
    def layer(self):
        return self.layers[0]

    @property
    def layer_shapes(self):
        return (self.layer.shape,)

    @property
    def layer_names(self):
        return (self.layer.name,)

    def mean_image(self, energy_gev, x_mm, y_mm, rng, inclined=True):
        """Expected cell energies (GeV), (showers, n_y, n_x), of photons hitting the
        front face at (x, y), integrated over depth slices of the inclined shower."""
        showers = make_showers(self.gflash, energy_gev, True, rng)
        layer, r_m, x0 = self.layer, self.stack.moliere_radius_mm, self.stack.radiation_length_mm
        slope_x = x_mm / self.target_distance_mm if inclined else np.zeros_like(x_mm)
        slope_y = y_mm / self.target_distance_mm if inclined else np.zeros_like(y_mm)
        image = np.zeros((len(energy_gev),) + layer.shape)
        edges = np.linspace(0.0, self.depth_x0, self.n_slices + 1)
        for front, back in zip(edges[:-1], edges[1:]):
            fraction, depth, tau = showers.slice(front, back)
            jitter_x, jitter_y = axis_jitter_rm(showers, fraction, self.lateral_fluctuation_rm, rng)
            axis_x = x_mm + slope_x * depth * x0 + jitter_x * r_m
            axis_y = y_mm + slope_y * depth * x0 + jitter_y * r_m
            y_edges = (layer.y_edges_mm[None, :] - axis_y[:, None]) / r_m
            x_edges = (layer.x_edges_mm[None, :] - axis_x[:, None]) / r_m
            image += slice_cell_energies(self.gflash, showers, fraction, tau, y_edges, x_edges)
        return image

    def digitise(self, image_gev, rng):
        """Sampling fluctuations (Gamma, variance a^2 E), constant term, noise, zero suppression; MeV out."""
        calibration = 1.0 + self.constant_term * rng.standard_normal(len(image_gev))
        return digitise_cells(image_gev, self.sampling_term, calibration, self.layer.noise_mev,
                              self.zero_suppression_sigma, rng)

    def simulate_stream(self, particle, n_events, seed, stream, energy_range_gev=(2.0, 200.0),
                        separation_mm=(40.0, 120.0), margin_cells=5, inclined=True):
        """One photon per event ("gamma") or two ("diphoton"). The first lands uniformly
        on the region, ``margin_cells`` from its edges; the second at a distance uniform
        in ``separation_mm`` in a random direction from the first."""
        n_photons = 2 if particle == "diphoton" else 1
        rng = np.random.default_rng([seed, stream])
        layer = self.layer
        half_x = layer.n_x / 2 * layer.cell_mm - margin_cells * layer.cell_mm
        half_y = layer.n_y / 2 * layer.cell_mm - margin_cells * layer.cell_mm
        energy = rng.uniform(*energy_range_gev, (n_events, n_photons))
        x = np.empty((n_events, n_photons))
        y = np.empty((n_events, n_photons))
        x[:, 0] = rng.uniform(-half_x, half_x, n_events)
        y[:, 0] = rng.uniform(-half_y, half_y, n_events)
        if n_photons == 2:
            distance = rng.uniform(*separation_mm, n_events)
            angle = rng.uniform(0, 2 * np.pi, n_events)
            x[:, 1] = np.clip(x[:, 0] + distance * np.cos(angle), -half_x - 2 * layer.cell_mm,
                              half_x + 2 * layer.cell_mm)
            y[:, 1] = np.clip(y[:, 0] + distance * np.sin(angle), -half_y - 2 * layer.cell_mm,
                              half_y + 2 * layer.cell_mm)
        image = self.mean_image(energy.ravel(), x.ravel(), y.ravel(), rng, inclined)
        image = image.reshape((n_events, n_photons) + layer.shape).sum(axis=1)
        return {"layer_0": self.digitise(image, rng), "photon_energy_gev": energy, "photon_x_mm": x,
                "photon_y_mm": y, "photon_theta_x_rad": np.arctan(x / self.target_distance_mm) * inclined,
                "photon_theta_y_rad": np.arctan(y / self.target_distance_mm) * inclined,
                "energy_gev": energy.sum(axis=1)}

    def simulate(self, particle, n_events, *, seed=0, mapper=None, **options):
        """``particle`` is "gamma" (one photon) or "diphoton" (two overlapping photons)."""
        if particle not in ("gamma", "diphoton"):
            raise ParameterError(f"the shashlik simulation makes 'gamma' or 'diphoton' events, not {particle!r}")
        check_event_request(n_events, options.get("energy_range_gev", (2.0, 200.0)))
        options = {k: v for k, v in options.items() if k != "mass_gev"}
        return map_streams(lambda n, stream: self.simulate_stream(particle, n, seed, stream, **options), n_events,
                           EVENTS_PER_STREAM, mapper)


SHASHLIK_ECAL = ShashlikEcal()
