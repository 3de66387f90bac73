"""The ATLAS-like lead/liquid-argon ECAL of the photon-jet study (arXiv 2401.15690).

Geometry of the study's Geant4 replica: 119 x (1 mm Pb + 3.2533 mm LAr), front
face at z = 1464.148 mm, four longitudinal layers with boundaries at
z = 1464.148 / 1500 / 1590.684 / 1928.113 / 1970.292 mm, each binned in the
angles atan(x/z) ("phi") and atan(y/z) ("eta") over +-0.2 rad:

    layer 0  presampler  4 x 16   (0.1   x 0.025)
    layer 1  strips      4 x 128  (0.1   x 0.003125)
    layer 2  middle      16 x 16  (0.025 x 0.025)
    layer 3  back        16 x 8   (0.025 x 0.05)

Cell energies are calibrated (total deposited energy, in MeV). Each cell gets a
sampling fluctuation (Gamma with variance a^2 E_cell), a per-event constant
term, Gaussian electronic noise, and a symmetric zero suppression at
``zero_suppression_sigma`` times the noise (|E| below it is zero, negative cells
beyond it are kept, as real read-outs store them). ``AtlasLikeEcal.readout`` says
which of these effects apply (``shower.Readout``); ``with_readout`` switches them
one at a time, and ``Readout.published()`` is the digitisation of the published
photon-jet files.

Contents: ``AngularLayer``, ``AtlasLikeEcal``, ``draw_primaries``, ``check_simulation_request``,
``ATLAS_ECAL`` (the detector with the book's readout), ``EVENTS_PER_STREAM``,
``DIRECTION_SPREAD_RAD``.
"""

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ..dask_workers import map_streams
from ..errors import ParameterError
from .kinematics import (PARTICLES, SIGNAL_MIN_MASS_GEV, angles_from_momentum, check_event_request,
                         check_signal_mass, direction_from_angles, final_state)
from .materials import LEAD, LIQUID_ARGON, SamplingStack
from .shower import GFlashParameters, Readout, digitise_cells, make_showers, slice_cell_energies, spot_fluctuations

#: Events per independent random stream: a file's content depends on the seed
#: only, never on how the work is chunked or parallelised.
EVENTS_PER_STREAM = 1000
#: Primaries point uniformly within this angle (rad) of the detector centre, half a middle
#: cell: the impact point moves across the cells, as real photons' does.
DIRECTION_SPREAD_RAD = 0.0125


@dataclass(frozen=True)
class AngularLayer:
    """One longitudinal layer binned in (atan(x/z), atan(y/z))."""

    name: str
    n_phi: int
    n_eta: int
    front_mm: float
    back_mm: float
    noise_mev: float
    half_width_rad: float = 0.2
    half_width_eta_rad: float | None = None  # None: the same as in phi

    @property
    def shape(self):
        return (self.n_phi, self.n_eta)

    @property
    def _half_eta(self):
        return self.half_width_rad if self.half_width_eta_rad is None else self.half_width_eta_rad

    @property
    def phi_edges_rad(self):
        return np.linspace(-self.half_width_rad, self.half_width_rad, self.n_phi + 1)

    @property
    def eta_edges_rad(self):
        return np.linspace(-self._half_eta, self._half_eta, self.n_eta + 1)

    @property
    def cell_size_rad(self):
        return 2 * self.half_width_rad / self.n_phi, 2 * self._half_eta / self.n_eta


@dataclass(frozen=True)
class AtlasLikeEcal:
    """The detector: stack, layers, resolution terms and zero suppression."""

    name: ClassVar[str] = "atlas-ecal"  # as the command line calls it
    yields: ClassVar[str] = "images"
    particles: ClassVar[tuple] = tuple(PARTICLES)
    #: What ``simulate`` takes beyond particle and events: --energy (GeV) and --mass (GeV) on the command line.
    options: ClassVar[frozenset] = frozenset({"energy", "mass"})
    stack: SamplingStack = SamplingStack(LEAD, 1.0, LIQUID_ARGON, 3.2533)
    layers: tuple = (
        AngularLayer("presampler", 4, 16, 1464.148, 1500.0, noise_mev=25.0),
        AngularLayer("strips", 4, 128, 1500.0, 1590.684, noise_mev=15.0),
        AngularLayer("middle", 16, 16, 1590.684, 1928.113, noise_mev=30.0),
        AngularLayer("back", 16, 8, 1928.113, 1970.292, noise_mev=20.0),
    )
    sampling_term: float = 0.10  # a in sigma/E = a/sqrt(E/GeV), ATLAS test beam
    constant_term: float = 0.007  # c, ATLAS design
    zero_suppression_sigma: float = 2.0
    max_slice_x0: float = 3.0  # depth slices per layer for the lateral profile
    readout: Readout = Readout()
    core_radius_scale: float = 1.0  # GFlash's core radius times this (``GFlashParameters``)
    gflash: GFlashParameters = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "gflash", GFlashParameters(self.stack, self.core_radius_scale))

    @property
    def front_mm(self):
        return self.layers[0].front_mm

    @property
    def layer_names(self):
        return tuple(layer.name for layer in self.layers)

    @property
    def layer_shapes(self):
        return tuple(layer.shape for layer in self.layers)

    def layer_index(self, name):
        """Position of the layer called ``name`` (presampler, strips, middle, back)."""
        if name not in self.layer_names:
            raise ParameterError(f"no layer {name!r}; the layers are {', '.join(self.layer_names)}")
        return self.layer_names.index(name)

    def layer_named(self, name):
        return self.layers[self.layer_index(name)]

    def ideal(self):
        """The same detector with sampling fluctuations only: no noise, no constant term."""
        return replace(self, constant_term=0.0, layers=tuple(replace(layer, noise_mev=0.0) for layer in self.layers))

    def with_readout(self, readout=None, **effects):
        """The same detector with another readout: a ``Readout``, or the present one with
        some effects switched (``with_readout(noise=False)``)."""
        unknown = set(effects) - set(Readout.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"no readout effect {', '.join(sorted(unknown))}; "
                                 f"the effects are {', '.join(Readout.__dataclass_fields__)}")
        return replace(self, readout=replace(readout or self.readout, **effects))

    def depth_x0(self, z_mm):
        """Depth in radiation lengths behind the front face."""
        return (np.asarray(z_mm) - self.front_mm) / self.stack.radiation_length_mm

    def slices_x0(self, layer):
        """Depth slices (front, back) in X0 covering one layer."""
        front, back = self.depth_x0(layer.front_mm), self.depth_x0(layer.back_mm)
        n = max(1, int(np.ceil((back - front) / self.max_slice_x0)))
        edges = np.linspace(front, back, n + 1)
        return list(zip(edges[:-1], edges[1:]))

    # -- simulation ------------------------------------------------------
    def mean_images(self, energy_gev, theta_x, theta_y, is_photon, rng, vertex_z_mm=0.0):
        """Expected layer images (before fluctuations and noise) of single EM
        showers, in GeV, for showers along the given angles; and the showers."""
        showers = make_showers(self.gflash, energy_gev, is_photon, rng)
        return self.deposit(showers, theta_x, theta_y, vertex_z_mm), showers

    def deposit(self, showers, theta_x, theta_y, vertex_z_mm=0.0):
        """Expected layer images (GeV) of ``showers`` along the given angles from a vertex on
        the axis at ``vertex_z_mm`` (the cells stay binned in angle seen from z = 0): at depth
        z a shower's axis lies at (z - vertex_z_mm) tan(theta)."""
        r_m = self.stack.moliere_radius_mm
        images = []
        for layer in self.layers:
            image = np.zeros((len(showers.energy_gev),) + layer.shape)
            tan_phi, tan_eta = np.tan(layer.phi_edges_rad), np.tan(layer.eta_edges_rad)
            for front, back in self.slices_x0(layer):
                fraction, depth, tau = showers.slice(front, back)
                z = self.front_mm + depth * self.stack.radiation_length_mm
                # + vertex_z_mm tan(theta): adds exactly 0.0 for a vertex at the origin
                x_edges = (z[:, None] * (tan_phi[None, :] - np.tan(theta_x)[:, None])
                           + vertex_z_mm * np.tan(theta_x)[:, None]) / r_m
                y_edges = (z[:, None] * (tan_eta[None, :] - np.tan(theta_y)[:, None])
                           + vertex_z_mm * np.tan(theta_y)[:, None]) / r_m
                image += slice_cell_energies(self.gflash, showers, fraction, tau, x_edges, y_edges)
            images.append(image)
        return images

    def digitise(self, images_gev, rng):
        """The effects of ``self.readout`` in order: spots, sampling fluctuations, constant
        term, noise, zero suppression; MeV out."""
        r = self.readout
        if r.spots:
            images_gev = spot_fluctuations(images_gev, self.stack, rng)
        calibration = 1.0 + (self.constant_term * rng.standard_normal(images_gev[0].shape[0]) if r.constant_term
                             else np.zeros(images_gev[0].shape[0]))
        return [digitise_cells(image, self.sampling_term if r.sampling else 0.0, calibration,
                               layer.noise_mev if r.noise else 0.0,
                               self.zero_suppression_sigma if r.zero_suppression else 0.0, rng)
                for layer, image in zip(self.layers, images_gev)]

    def simulate_stream(self, particle, n_events, seed, stream, energy_range_gev=(40.0, 250.0),
                        mass_gev=1.0, direction_spread_rad=DIRECTION_SPREAD_RAD, vertex_z_mm=0.0):
        """Simulate ``n_events`` of one random stream; returns a dict of arrays.

        Energies are uniform in ``energy_range_gev``; the primary starts on the axis at
        ``vertex_z_mm`` (0: the origin the cells' angles are seen from) and points at angles
        uniform within +-``direction_spread_rad`` of the detector centre (half a middle cell
        by default), so the impact point moves across the cells.
        """
        rng = np.random.default_rng([seed, stream])
        energy, theta_x, theta_y, p4, is_photon = draw_primaries(particle, n_events, rng, energy_range_gev, mass_gev,
                                                                 direction_spread_rad)
        k = p4.shape[1]
        ph_theta_x, ph_theta_y = angles_from_momentum(p4)
        images, showers = self.mean_images(p4[..., 0].ravel(), ph_theta_x.ravel(), ph_theta_y.ravel(),
                                           np.repeat(is_photon[None, :], n_events, 0).ravel(), rng, vertex_z_mm)
        images = [img.reshape((n_events, k) + img.shape[1:]).sum(axis=1) for img in images]
        layers = self.digitise(images, rng)
        event = {f"layer_{i}": layer for i, layer in enumerate(layers)}
        event.update({
            "energy_gev": energy,
            "theta_x_rad": theta_x,
            "theta_y_rad": theta_y,
            "photon_energy_gev": p4[..., 0],
            "photon_theta_x_rad": ph_theta_x,
            "photon_theta_y_rad": ph_theta_y,
            "photon_start_x0": showers.start_x0.reshape(n_events, k),
        })
        return event

    def simulate(self, particle, n_events, *, seed=0, mapper=None, **options):
        """Check the request, then return an iterator of chunks (dicts of arrays) of up to
        EVENTS_PER_STREAM events, computed by ``mapper`` (see ``analysis_lib.dask_workers``)."""
        check_simulation_request(particle, n_events, options.get("energy_range_gev", (40.0, 250.0)),
                                 options.get("mass_gev", 1.0))
        return map_streams(lambda n, stream: self.simulate_stream(particle, n, seed, stream, **options), n_events,
                           EVENTS_PER_STREAM, mapper)


def draw_primaries(particle, n_events, rng, energy_range_gev=(40.0, 250.0), mass_gev=1.0,
                   direction_spread_rad=DIRECTION_SPREAD_RAD):
    """The primaries of ``n_events`` and their decays, as ``simulate_stream`` draws them:
    (energy GeV, theta_x, theta_y rad, final four-vectors (events, k, 4), is_photon (k,))."""
    e_lo, e_hi = energy_range_gev
    energy = rng.uniform(e_lo, e_hi, n_events) if e_hi > e_lo else np.full(n_events, float(e_lo))
    theta_x, theta_y = rng.uniform(-direction_spread_rad, direction_spread_rad, (2, n_events))
    p4, is_photon = final_state(particle, energy, direction_from_angles(theta_x, theta_y), rng, mass_gev)
    return energy, theta_x, theta_y, p4, is_photon


def check_simulation_request(particle, n_events, energy_range_gev, mass_gev=1.0):
    """Refuse impossible requests before any work starts."""
    if particle not in PARTICLES:
        raise ParameterError(f"unknown particle {particle!r}; choose one of {', '.join(PARTICLES)}")
    check_signal_mass(particle, mass_gev)
    check_event_request(n_events, energy_range_gev)
    if particle in SIGNAL_MIN_MASS_GEV and energy_range_gev[0] <= mass_gev:
        raise ParameterError(f"the lowest energy {energy_range_gev[0]} GeV must exceed the {particle} mass {mass_gev} "
                             "GeV")


ATLAS_ECAL = AtlasLikeEcal()
