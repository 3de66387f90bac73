"""Photon identification clusters of an ATLAS-like barrel ECAL: prompt photons and jets faking them.

The cluster is the original study's 7 (eta) x 11 (phi) middle-cell window, read as
three images (phi x eta) plus the presampler energy:

    presampler  3 x 7    (0.1    x 0.025)     summed into one number
    strips      2 x 56   (0.098  x 0.003125)
    middle      11 x 7   (0.0245 x 0.025)
    back        11 x 4   (0.0245 x 0.05)

on the lead/liquid-argon stack and layer depths of ``atlas_ecal``. ATLAS keeps the
depth of each layer in X0 roughly the same at every eta (thinner lead and sloped
layer boundaries at larger |eta|), so here eta changes the dead material in front
of the presampler (``upstream_x0``, from 0.5 X0 at eta = 0 to 2.4 X0 at
|eta| = 2.37), where showers that start early lose energy. The crack
1.37 < |eta| < 1.52 is left out.

Jets faking photons: a leading neutral meson (pi0 -> 2 gamma, or eta -> 2 gamma or
3 pi0) carrying a fraction z ~ Beta(5, 1.5) of the candidate energy, with the rest of
the jet core around it: extra photons (other pi0s) and charged hadrons. A hadron
leaves a minimum-ionising track (``mip_gev_per_x0``) until it interacts, after an
exponential depth with mean ``interaction_length_x0``; there a fraction
U(0.1, 0.6) of its energy showers electromagnetically (pi0s of the hadronic shower)
and the rest goes to the hadronic calorimeter behind (``hadronic_energy_gev``, with
EM leakage of every shower and noise ``hadronic_noise_gev``).

Two processes with different transverse-energy spectra, dN/dE_T ~ E_T^-n:
``photon_jet`` (gamma + jet and dijet fakes, for training) and ``radiative_z``
(Z -> ll gamma and Z + jets fakes, for validation and the template fit), which also
carries m_llgamma for each event. In the training process photons and jets share one
spectrum, as ATLAS reweights its background to the signal's kinematics before
training: otherwise a network learns that soft candidates are jets, which fails on a
softer process.
"""

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ..dask_workers import map_streams
from ..errors import ParameterError
from .atlas_ecal import EVENTS_PER_STREAM, AngularLayer, AtlasLikeEcal
from .kinematics import PI0_MASS_GEV, angles_from_momentum, direction_from_angles, final_state
from .shower import make_showers

ETA_MESON_MASS_GEV = 0.547862
Z_MASS_GEV, Z_WIDTH_GEV = 91.1876, 2.4952
CRACK = (1.37, 1.52)
MAX_ABS_ETA = 2.37
KINDS = ("photon", "jet")


@dataclass(frozen=True)
class Process:
    """Candidate E_T spectrum dN/dE_T ~ E_T^-index on ``et_range_gev``, per kind."""

    description: str
    et_range_gev: tuple
    photon_index: float
    jet_index: float


PROCESSES = {
    "photon_jet": Process("gamma + jet, dijet fakes (training)", (10.0, 200.0), 2.0, 2.0),
    "radiative_z": Process("Z -> ll gamma, Z + jets fakes (validation)", (10.0, 80.0), 3.0, 3.5),
}

PHOTON_ID_LAYERS = (
    AngularLayer("presampler", 3, 7, 1464.148, 1500.0, noise_mev=25.0, half_width_rad=0.15, half_width_eta_rad=0.0875),
    AngularLayer("strips", 2, 56, 1500.0, 1590.684, noise_mev=15.0, half_width_rad=0.098, half_width_eta_rad=0.0875),
    AngularLayer("middle", 11, 7, 1590.684, 1928.113, noise_mev=30.0, half_width_rad=0.13475,
                 half_width_eta_rad=0.0875),
    AngularLayer("back", 11, 4, 1928.113, 1970.292, noise_mev=20.0, half_width_rad=0.13475, half_width_eta_rad=0.1),
)


def power_law(rng, n, low, high, index):
    """n draws of dN/dx ~ x^-index on [low, high] (index != 1), by inverting the CDF."""
    u = rng.random(n)
    a, b = low ** (1 - index), high ** (1 - index)
    return (a + u * (b - a)) ** (1 / (1 - index))


def breit_wigner(rng, n, mass, width, low, high):
    """n draws of a non-relativistic Breit-Wigner truncated to [low, high]."""
    lo, hi = np.arctan(2 * (low - mass) / width), np.arctan(2 * (high - mass) / width)
    return mass + 0.5 * width * np.tan(rng.uniform(lo, hi, n))


@dataclass(frozen=True)
class PhotonIdEcal:
    """The photon-ID cluster simulation (see the module docstring)."""

    name: ClassVar[str] = "photon-id"
    yields: ClassVar[str] = "images"
    particles: ClassVar[tuple] = ("photon", "jet")
    options: ClassVar[frozenset] = frozenset({"process"})  # photon_jet or radiative_z
    ecal: AtlasLikeEcal = AtlasLikeEcal(layers=PHOTON_ID_LAYERS)
    interaction_length_x0: float = 21.0  # lambda_I / X0 of 1 mm Pb + 3.25 mm LAr
    mip_gev_per_x0: float = 0.012
    hadronic_noise_gev: float = 0.15
    mass_resolution_gev: float = 1.5  # m_llgamma, leptons and photon together
    layer_names: tuple = field(default=("presampler", "strips", "middle", "back"))

    @property
    def layers(self):
        return self.ecal.layers

    @property
    def layer_shapes(self):
        return self.ecal.layer_shapes

    def layer_index(self, name):
        return self.ecal.layer_index(name)

    def layer_named(self, name):
        return self.ecal.layer_named(name)

    @staticmethod
    def upstream_x0(abs_eta):
        """Dead material in front of the presampler (X0) at |eta|."""
        return 0.5 + 0.8 * np.asarray(abs_eta)

    def simulate(self, particle, n_events, *, seed=0, mapper=None, process="photon_jet", conversion_fraction=0.0):
        """Check the request, then return an iterator of chunks (dicts of arrays)."""
        if particle not in KINDS:
            raise ParameterError(f"unknown particle {particle!r}; choose one of {', '.join(KINDS)}")
        if process not in PROCESSES:
            raise ParameterError(f"unknown process {process!r}; choose one of {', '.join(PROCESSES)}")
        if not 0.0 <= conversion_fraction <= 1.0:
            raise ParameterError(f"conversion_fraction must be in [0, 1], got {conversion_fraction}")
        if not isinstance(n_events, (int, np.integer)) or n_events < 1:
            raise ParameterError(f"the number of events must be a positive integer, got {n_events!r}")
        def stream_events(n, stream):
            return self.simulate_stream(particle, n, seed, stream, process, conversion_fraction)

        return map_streams(stream_events, n_events, EVENTS_PER_STREAM, mapper)

    def simulate_stream(self, particle, n_events, seed, stream, process="photon_jet", conversion_fraction=0.0):
        # the particle and the process enter the stream, so photons and jets of one seed are independent
        rng = np.random.default_rng([seed, stream, KINDS.index(particle), list(PROCESSES).index(process)])
        spec = PROCESSES[process]
        et = power_law(rng, n_events, *spec.et_range_gev, spec.photon_index if particle == "photon" else spec.jet_index)
        abs_eta = _abs_eta_outside_crack(rng, n_events)
        energy = et * np.cosh(abs_eta)
        # the candidate points within half a middle cell of the cluster centre
        axis_x, axis_y = rng.uniform(-0.0125, 0.0125, (2, n_events))
        if particle == "photon":
            particles, converted = self._photons(energy, et, axis_x, axis_y, conversion_fraction, rng)
            leading = np.ones(n_events)
        else:
            particles, leading = self._jet_core(energy, axis_x, axis_y, rng)
            converted = np.zeros(n_events, bool)
        layers, hadronic = self._response(particles, n_events, self.upstream_x0(abs_eta), rng)
        event = {f"layer_{i}": layer for i, layer in enumerate(layers)}
        event.update({
            "et_gev": et, "abs_eta": abs_eta, "energy_gev": energy, "is_photon": np.full(n_events,
                                                                                         particle == "photon"),
            "hadronic_energy_gev": hadronic, "leading_fraction": leading, "converted": converted,
        })
        if process == "radiative_z":
            event["m_llgamma_gev"] = (self._fsr_mass(rng, n_events) if particle == "photon"
                                      else self._zjets_mass(rng, et, abs_eta))
        return event

    # -- particles: flat arrays with the index of their event ----------------------
    def _photons(self, energy, et, axis_x, axis_y, conversion_fraction, rng):
        n = len(energy)
        converted = rng.random(n) < conversion_fraction
        # a conversion in the tracker: e+ e- sharing the energy, bent apart in phi by the
        # solenoid (2 T at R = 1.5 m: 0.45 rad GeV / p_T each, less the earlier the conversion)
        share = rng.uniform(0.05, 0.95, n)
        bend = 0.45 * rng.uniform(0.3, 1.0, n) / et
        one = dict(event=np.arange(n), energy=energy, theta_x=axis_x, theta_y=axis_y, photon=np.ones(n, bool),
                   hadron=np.zeros(n, bool))
        c = np.flatnonzero(converted)
        pair = dict(event=np.concatenate([c, c]), energy=np.concatenate([share[c], 1 - share[c]]) * np.tile(energy[c],
                                                                                                            2),
                    theta_x=np.concatenate([axis_x[c] + bend[c] / share[c], axis_x[c] - bend[c] / (1 - share[c])]),
                    theta_y=np.concatenate([axis_y[c], axis_y[c]]), photon=np.zeros(2 * c.size, bool),
                    hadron=np.zeros(2 * c.size, bool))
        keep = ~converted
        one = {k: v[keep] for k, v in one.items()}
        return _concatenate([one, pair]), converted

    def _jet_core(self, energy, axis_x, axis_y, rng):
        n = len(energy)
        leading = 0.5 + 0.5 * rng.beta(5.0, 1.5, n)
        direction = direction_from_angles(axis_x, axis_y)
        pieces = []
        # the leading meson: pi0 (75 %), eta -> 2 gamma (13 %), eta -> 3 pi0 (12 %)
        meson = rng.choice(3, n, p=[0.75, 0.13, 0.12])
        for code, (name, mass) in enumerate([("pi0", PI0_MASS_GEV), ("axion1", ETA_MESON_MASS_GEV),
                                             ("axion2", ETA_MESON_MASS_GEV)]):
            idx = np.flatnonzero(meson == code)
            if idx.size == 0:
                continue
            p4, _ = final_state(name, leading[idx] * energy[idx], direction[idx], rng, mass_gev=mass)
            tx, ty = angles_from_momentum(p4)
            k = p4.shape[1]
            pieces.append(dict(event=np.repeat(idx, k), energy=p4[..., 0].ravel(), theta_x=tx.ravel(),
                               theta_y=ty.ravel(), photon=np.ones(idx.size * k, bool),
                               hadron=np.zeros(idx.size * k, bool)))
        # the rest of the jet core: 1 + Poisson(1) photons and Poisson(1.5) charged hadrons,
        # sharing (1 - z) E with Dirichlet fractions, within a few cells of the axis
        n_photons, n_hadrons = 1 + rng.poisson(1.0, n), rng.poisson(1.5, n)
        counts = n_photons + n_hadrons
        event = np.repeat(np.arange(n), counts)
        weight = rng.exponential(1.0, event.size)
        weight /= np.bincount(event, weight, n)[event]
        first = np.repeat(np.cumsum(counts) - counts, counts)
        is_hadron = (np.arange(event.size) - first) >= n_photons[event]
        radius = np.abs(rng.normal(0.0, 0.04, event.size))
        azimuth = rng.uniform(0, 2 * np.pi, event.size)
        pieces.append(dict(event=event, energy=np.maximum(weight * (1 - leading[event]) * energy[event], 0.05),
                           theta_x=axis_x[event] + radius * np.cos(azimuth),
                           theta_y=axis_y[event] + radius * np.sin(azimuth),
                           photon=~is_hadron, hadron=is_hadron))
        return _concatenate(pieces), leading

    # -- detector response ------------------------------------------------------------
    def _response(self, p, n_events, upstream, rng):
        """Cell images (MeV, digitised) and the measured hadronic energy (GeV) of each event."""
        ecal = self.ecal
        dead = upstream[p["event"]]
        is_em = ~p["hadron"]
        # hadrons: interaction depth, the EM part of their shower, the rest to the hadronic calorimeter
        interaction = rng.exponential(self.interaction_length_x0, p["energy"].size)
        em_fraction = np.where(is_em, 1.0, rng.uniform(0.1, 0.6, p["energy"].size))
        showers = make_showers(ecal.gflash, p["energy"] * em_fraction, p["photon"], rng)
        start = np.where(is_em, showers.start_x0 - dead, interaction)
        showers = replace(showers, start_x0=start)
        images = ecal.deposit(showers, p["theta_x"], p["theta_y"])
        images = [_sum_by_event(image, p["event"], n_events) for image in images]
        self._add_tracks(images, p, interaction, n_events)
        back = ecal.depth_x0(ecal.layers[-1].back_mm)
        leak, _, _ = showers.slice(back, back + 1e3)
        behind = showers.energy_gev * leak + np.where(p["hadron"], (1 - em_fraction) * p["energy"], 0.0)
        hadronic = np.bincount(p["event"], behind, n_events) + self.hadronic_noise_gev * rng.standard_normal(n_events)
        return ecal.digitise(images, rng), hadronic

    def _add_tracks(self, images, p, interaction, n_events):
        """Minimum-ionising energy of each hadron in the cell it crosses, up to its interaction."""
        ecal = self.ecal
        for image, layer in zip(images, ecal.layers):
            front, back = ecal.depth_x0(layer.front_mm), ecal.depth_x0(layer.back_mm)
            length = np.clip(np.minimum(back, interaction) - front, 0.0, None) * p["hadron"]
            i = np.digitize(p["theta_x"], layer.phi_edges_rad) - 1
            j = np.digitize(p["theta_y"], layer.eta_edges_rad) - 1
            inside = (i >= 0) & (i < layer.n_phi) & (j >= 0) & (j < layer.n_eta) & (length > 0)
            np.add.at(image, (p["event"][inside], i[inside], j[inside]), self.mip_gev_per_x0 * length[inside])

    # -- m_llgamma of the radiative-Z process ---------------------------------------------
    def _fsr_mass(self, rng, n):
        """Z -> ll gamma: the Z line shape, smeared by the resolution."""
        return breit_wigner(rng, n, Z_MASS_GEV, Z_WIDTH_GEV, 60.0,
                            120.0) + self.mass_resolution_gev * rng.standard_normal(n)

    def _zjets_mass(self, rng, et, abs_eta):
        """Z + jets with a jet taken for the photon: m_ll below 83 GeV (the Z tail and
        Drell-Yan), the dilepton system recoiling against the jet; the candidate's
        massless four-vector adds to it."""
        n = len(et)
        m_ll = np.where(rng.random(n) < 0.7, breit_wigner(rng, n, Z_MASS_GEV, Z_WIDTH_GEV, 40.0, 83.0),
                        1.0 / rng.uniform(1 / 83.0, 1 / 40.0, n))
        eta = abs_eta * rng.choice([-1.0, 1.0], n)
        pt_ll = np.abs(et / rng.uniform(0.5, 1.0, n) * (1 + 0.15 * rng.standard_normal(n)))
        y_ll = rng.normal(0.0, 1.2, n)
        dphi = np.pi + rng.normal(0.0, 0.4, n)
        mt = np.hypot(m_ll, pt_ll)
        m2 = m_ll**2 + 2 * et * (mt * np.cosh(y_ll - eta) - pt_ll * np.cos(dphi))
        return np.sqrt(m2) + self.mass_resolution_gev * rng.standard_normal(n)


def _abs_eta_outside_crack(rng, n):
    width = MAX_ABS_ETA - (CRACK[1] - CRACK[0])
    u = rng.uniform(0, width, n)
    return np.where(u < CRACK[0], u, u + CRACK[1] - CRACK[0])


def _concatenate(pieces):
    return {k: np.concatenate([piece[k] for piece in pieces]) for k in pieces[0]}


def _sum_by_event(image, event, n_events):
    out = np.zeros((n_events,) + image.shape[1:])
    np.add.at(out, event, image)
    return out


PHOTON_ID_ECAL = PhotonIdEcal()
