"""A LArIAT-like liquid-argon TPC collection plane: 240 wires (4 mm pitch) x 146 time bins.

One image per event, wire x time, about 4 mm square pixels (a time bin is 21 ticks of
128 ns at 1.55 mm/us, 4.2 mm of drift). Six beam particles: electron, kaon, muon,
photon, charged pion, neutral pion, at 0.2-1.4 GeV/c, entering at wire 0.

Transport is a vectorised particle stack in the wire-drift plane, in 4 mm steps:

* charged particles lose dE/dx = 2.12 MeV/cm / beta^2 (a MIP, rising to a Bragg peak
  for slow heavy particles) with Landau-like fluctuations (a Gaussian core and an
  exponential tail towards large losses), and scatter by
  13.6 MeV / (beta p) sqrt(step / X0);
* electrons radiate bremsstrahlung photons (about 63 % of their energy per X0 = 14 cm);
  photons fly a conversion length, exp(-7 d / 9 X0), before an e+e- pair (a gap), or
  leave a Compton blip below 5 MeV;
* heavy charged particles knock out delta-ray electrons (1/T^2 above 1 MeV);
* pions interact after about 84 cm (a kink with a proton stub, or absorption into
  protons); stopping muons and pions give a Michel electron; kaons stop and decay
  (K -> mu nu, or pi pi0); a pi0 decays at once into two photons.

The image then gets diffusion (Gaussian, 0.6 pixel), per-pixel noise and coherent
per-wire noise, and is zero-suppressed below three times the noise (``threshold_mev``;
``noise_free()``: the same detector without noise, with the same threshold). Charges
are in MeV (no recombination); ``mip_mev_per_wire`` is a MIP's charge on one wire.
Files are HDF5 with ``layer_0`` (events, 240, 146), the class label and truth:
momentum, collected charge, extent, and what makes a class recognisable or not: ``beam_conversions`` (the
beam's photons converting inside the image: one for a photon, two for a π0) and
``pion_interactions`` (hadronic interactions inside it; a pion without one is a MIP
track like a muon's).
"""

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..dask_workers import map_streams
from ..errors import ParameterError
from .kinematics import check_event_request

CLASSES = ("electron", "kaon", "muon", "photon", "pion", "pion_zero")
MASS_MEV = {"electron": 0.511, "muon": 105.66, "pion": 139.57, "kaon": 493.68, "proton": 938.27, "pion_zero": 134.98}
SPECIES = ("electron", "muon", "pion", "kaon", "proton")  # charged species in the stack, by code
EVENTS_PER_STREAM = 500
MIP_MEV_PER_MM = 0.212  # liquid argon, minimum ionising
X0_MM = 140.0
PION_INTERACTION_MM = 840.0


@dataclass(frozen=True)
class LarTpc:
    name: ClassVar[str] = "lartpc"
    yields: ClassVar[str] = "images"
    particles: ClassVar[tuple] = CLASSES
    options: ClassVar[frozenset] = frozenset()
    n_wires: int = 240
    n_ticks: int = 146
    wire_pitch_mm: float = 4.0
    tick_mm: float = 4.2
    step_mm: float = 4.0
    diffusion_pixels: float = 0.6
    noise_mev: float = 0.03
    coherent_noise_mev: float = 0.01
    zero_suppression_mev: float | None = None  # None: three times the total noise
    momentum_range_gev: tuple = (0.2, 1.4)

    @property
    def layer_shapes(self):
        return ((self.n_wires, self.n_ticks),)

    @property
    def layer_names(self):
        return ("collection",)

    @property
    def shape(self):
        return (self.n_wires, self.n_ticks)

    @property
    def mip_mev_per_wire(self):
        """A minimum-ionising track's charge on one wire, crossing it at right angles."""
        return MIP_MEV_PER_MM * self.wire_pitch_mm

    @property
    def threshold_mev(self):
        """The zero-suppression threshold: pixels at or below it read zero."""
        if self.zero_suppression_mev is not None:
            return self.zero_suppression_mev
        return 3 * float(np.hypot(self.noise_mev, self.coherent_noise_mev))  # region-of-interest finding

    def noise_free(self):
        """The same detector with an ideal readout: no pixel or wire noise, the same
        zero-suppression threshold (diffusion stays: it is physics). The same seed gives
        the same events."""
        return replace(self, noise_mev=0.0, coherent_noise_mev=0.0, zero_suppression_mev=self.threshold_mev)

    def _transport(self, stack, photons, n_events, rng):
        """Move every particle until it stops or leaves; returns deposits (event, x, y, E) and
        per-event truth: the beam photons converting inside the image (``beam_conversions``)
        and the pion hadronic interactions inside it (``pion_interactions``)."""
        deposits = []
        width, height = self.n_wires * self.wire_pitch_mm, self.n_ticks * self.tick_mm
        masses = np.array([MASS_MEV[s] for s in SPECIES])
        truth = {"beam_conversions": np.zeros(n_events, int), "pion_interactions": np.zeros(n_events, int)}

        def count_inside(name, event, x, y):
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            np.add.at(truth[name], event[inside], 1)

        for step in range(400):
            if photons["event"].size:
                pairs = self._convert(photons, deposits, rng)
                if step == 0:  # the beam's own photons (photon, the pi0's two)
                    first = slice(0, pairs["event"].size // 2)  # one row per converted photon
                    count_inside("beam_conversions", pairs["event"][first], pairs["x"][first], pairs["y"][first])
                stack = _concatenate(stack, pairs)
                photons = _empty_photons()
            if stack["event"].size == 0:
                break
            mass = masses[stack["code"]]
            gamma = 1 + stack["T"] / mass
            beta2 = 1 - 1 / gamma**2
            momentum = np.sqrt(stack["T"] ** 2 + 2 * stack["T"] * mass)
            dedx = MIP_MEV_PER_MM * np.clip(1 / beta2, 1, 12)
            loss = np.minimum(dedx * self.step_mm * np.clip(1 + 0.15 * rng.standard_normal(beta2.size)
                                                            + 0.1 * rng.exponential(1, beta2.size), 0.5, 8), stack["T"])
            deposits.append((stack["event"], stack["x"], stack["y"], loss))
            stack["T"] = stack["T"] - loss
            scatter = 13.6 / np.maximum(np.sqrt(beta2) * momentum, 1e-3) * np.sqrt(self.step_mm / X0_MM)
            stack["phi"] = stack["phi"] + np.minimum(scatter, 0.5) * rng.standard_normal(beta2.size)
            stack["x"] = stack["x"] + self.step_mm * np.cos(stack["phi"])
            stack["y"] = stack["y"] + self.step_mm * np.sin(stack["phi"])
            # bremsstrahlung: about 0.215 of the energy per emission (1/y spectrum on 1 %-100 %)
            radiates = (stack["code"] == 0) & (stack["T"] > 2.0) & (rng.random(beta2.size) < 3 * self.step_mm / X0_MM)
            fraction = 0.01 ** (1 - rng.random(beta2.size))
            emitted = np.where(radiates, fraction * stack["T"], 0.0)
            photons = _concatenate(photons, _select({"event": stack["event"], "x": stack["x"], "y": stack["y"],
                                                     "phi": stack["phi"] + rng.normal(0, 0.02, beta2.size),
                                                     "E": emitted}, radiates))
            stack["T"] = stack["T"] - emitted
            # delta rays of heavy charged particles: dN/dT = K / (beta^2 T^2), K = 0.0965 MeV/cm in LAr,
            # about one above 1 MeV every 10 cm
            heavy = stack["code"] > 0
            t_max = np.clip(stack["T"] / 4, 1.0, 100.0)
            knocks = heavy & (rng.random(beta2.size) < 0.00965 * self.step_mm / beta2 * (1 - 1 / t_max)) & (t_max > 1.0)
            delta_t = 1 / (1 - rng.random(beta2.size) * (1 - 1 / t_max))
            deltas = _select({"event": stack["event"], "x": stack["x"], "y": stack["y"],
                              "phi": stack["phi"] + rng.choice([-1, 1], beta2.size) * rng.uniform(0.4, 1.3, beta2.size),
                              "T": delta_t, "code": np.zeros(beta2.size, int)}, knocks)
            stack["T"] = stack["T"] - np.where(knocks, delta_t, 0.0)
            stack, secondaries, new_photons = self._interactions(stack, rng)
            interacted = secondaries["code"] == 4  # one proton or more per interaction, at its point
            points = np.unique(np.stack([secondaries["event"], secondaries["x"], secondaries["y"]])[:, interacted],
                               axis=1)
            count_inside("pion_interactions", points[0].astype(int), points[1], points[2])
            secondaries = _concatenate(secondaries, deltas)
            photons = _concatenate(photons, new_photons)
            stopped = stack["T"] <= 0.5
            decay_stack, decay_photons, blips = self._at_rest(_select(stack, stopped), rng)
            if blips[0].size:
                deposits.append(blips)
            inside = (stack["x"] >= 0) & (stack["x"] < width) & (stack["y"] >= 0) & (stack["y"] < height)
            stack = _concatenate(_select(stack, ~stopped & inside), _concatenate(secondaries, decay_stack))
            photons = _concatenate(photons, decay_photons)
        return tuple(np.concatenate(parts) for parts in zip(*deposits)), truth

    def _convert(self, photons, deposits, rng):
        """Photons fly exp(9/7 X0) and convert to e+e-, or leave a Compton blip under 5 MeV."""
        distance = rng.exponential(9 / 7 * X0_MM, photons["E"].size)
        x = photons["x"] + distance * np.cos(photons["phi"])
        y = photons["y"] + distance * np.sin(photons["phi"])
        soft = photons["E"] < 5.0
        deposits.append((photons["event"][soft], x[soft], y[soft], photons["E"][soft]))
        hard = ~soft
        share = rng.uniform(0.05, 0.95, hard.sum())
        pair = {"event": np.tile(photons["event"][hard], 2), "x": np.tile(x[hard], 2), "y": np.tile(y[hard], 2),
                "phi": np.tile(photons["phi"][hard], 2) + rng.normal(0, 0.03, 2 * hard.sum()),
                "T": np.concatenate([share, 1 - share]) * np.tile(photons["E"][hard] - 1.022, 2),
                "code": np.zeros(2 * hard.sum(), int)}
        return pair

    def _interactions(self, stack, rng):
        """Pion hadronic interactions: 70 % a kink with a proton stub, 30 % absorption into
        one or two protons."""
        interacts = (stack["code"] == 2) & (rng.random(stack["T"].size) < self.step_mm / PION_INTERACTION_MM)
        index = np.flatnonzero(interacts)
        absorbed = index[rng.random(index.size) < 0.3]
        kinked = np.setdiff1d(index, absorbed)
        stack["phi"][kinked] += rng.normal(0, 0.8, kinked.size)
        stack["T"][kinked] *= rng.uniform(0.3, 0.8, kinked.size)
        stack["T"][absorbed] = 0.0
        source = np.concatenate([kinked, absorbed, absorbed])
        protons = {"event": stack["event"][source], "x": stack["x"][source], "y": stack["y"][source],
                   "phi": rng.uniform(0, 2 * np.pi, source.size), "T": rng.uniform(20, 150, source.size),
                   "code": np.full(source.size, 4)}
        return stack, protons, _empty_photons()

    def _at_rest(self, stopped, rng):
        """Muons and pions: a Michel electron; kaons: mu nu (64 %) or pi+ pi0."""
        code = stopped["code"]
        michel = np.flatnonzero((code == 1) | (code == 2))
        kaon = np.flatnonzero(code == 3)
        to_muon = kaon[rng.random(kaon.size) < 0.64]
        to_pions = np.setdiff1d(kaon, to_muon)

        def particles(index, kinetic, species):
            return {"event": stopped["event"][index], "x": stopped["x"][index], "y": stopped["y"][index],
                    "phi": rng.uniform(0, 2 * np.pi, index.size), "T": kinetic, "code": np.full(index.size, species)}

        out = particles(michel, rng.uniform(10, 52.8, michel.size), 0)
        out = _concatenate(out, particles(to_muon, np.full(to_muon.size, 152.5), 1))
        out = _concatenate(out, particles(to_pions, np.full(to_pions.size, 108.5), 2))
        pi0 = {"event": stopped["event"][to_pions], "x": stopped["x"][to_pions], "y": stopped["y"][to_pions],
               "phi": rng.uniform(0, 2 * np.pi, to_pions.size), "E": np.full(to_pions.size, 246.0)}
        return out, _pi0_photons(pi0, rng), (np.array([], int), np.array([]), np.array([]), np.array([]))

    def simulate_stream(self, particle, n_events, seed, stream):
        rng = np.random.default_rng([seed, stream])
        momentum = rng.uniform(*self.momentum_range_gev, n_events) * 1000.0
        y0 = self.n_ticks * self.tick_mm / 2 + rng.normal(0, 80.0, n_events)
        phi0 = rng.normal(0, 0.15, n_events)
        events = np.arange(n_events)
        if particle in ("photon", "pion_zero"):
            mass = MASS_MEV[particle] if particle == "pion_zero" else 0.0
            source = {"event": events, "x": np.zeros(n_events), "y": y0, "phi": phi0,
                      "E": np.sqrt(momentum**2 + mass**2)}
            photons = _pi0_photons(source, rng) if particle == "pion_zero" else source
            stack = _empty_stack()
        else:
            mass = MASS_MEV[particle]
            stack = {"event": events, "x": np.zeros(n_events), "y": y0, "phi": phi0,
                     "T": np.sqrt(momentum**2 + mass**2) - mass, "code": np.full(n_events, SPECIES.index(particle))}
            photons = _empty_photons()
        (event, x, y, energy), truth = self._transport(stack, photons, n_events, rng)
        image = self.digitise(event, x, y, energy, n_events, rng)
        extent = np.zeros(n_events)
        reach = np.hypot(x, y - y0[event])
        np.maximum.at(extent, event, np.where((x >= 0) & (x < self.n_wires * self.wire_pitch_mm), reach, 0.0))
        return {"layer_0": image, "label": np.full(n_events, CLASSES.index(particle)),
                "momentum_gev": momentum / 1000.0, "charge_mev": image.sum(axis=(1, 2)), "extent_mm": extent, **truth}

    def digitise(self, event, x, y, energy, n_events, rng):
        """Deposits to wire x time pixels, diffusion, pixel and coherent wire noise (MeV, float32)."""
        from scipy.ndimage import gaussian_filter

        wire = np.floor(x / self.wire_pitch_mm).astype(int)
        tick = np.floor(y / self.tick_mm).astype(int)
        inside = (wire >= 0) & (wire < self.n_wires) & (tick >= 0) & (tick < self.n_ticks)
        flat = (event[inside] * self.n_wires + wire[inside]) * self.n_ticks + tick[inside]
        image = np.bincount(flat, energy[inside], minlength=n_events * self.n_wires * self.n_ticks)
        image = gaussian_filter(image.reshape(n_events, self.n_wires, self.n_ticks), (0, *(self.diffusion_pixels,) * 2))
        image += self.noise_mev * rng.standard_normal(image.shape)
        image += self.coherent_noise_mev * rng.standard_normal((n_events, self.n_wires, 1))
        return np.where(image > self.threshold_mev, image, 0.0).astype(np.float32)

    def simulate(self, particle, n_events, *, seed=0, mapper=None, **options):
        if particle not in CLASSES:
            raise ParameterError(f"the LArTPC simulation makes {', '.join(CLASSES)}, not {particle!r}")
        check_event_request(n_events, self.momentum_range_gev)
        return map_streams(lambda n, stream: self.simulate_stream(particle, n, seed, stream), n_events,
                           EVENTS_PER_STREAM, mapper)


def _pi0_photons(pi0, rng):
    """pi0 -> 2 photons: energies from a flat cos(theta*), opening angle
    cos(theta) = 1 - m^2 / (2 E1 E2), shared so the momentum stays on the pi0 line."""
    energy = pi0["E"]
    beta = np.sqrt(np.clip(1 - (MASS_MEV["pion_zero"] / energy) ** 2, 0, 1))
    split = (1 + beta * rng.uniform(-1, 1, energy.size)) / 2
    e1, e2 = split * energy, (1 - split) * energy
    opening = np.arccos(np.clip(1 - MASS_MEV["pion_zero"] ** 2 / (2 * e1 * e2), -1, 1))
    return {"event": np.tile(pi0["event"], 2), "x": np.tile(pi0["x"], 2), "y": np.tile(pi0["y"], 2),
            "phi": np.concatenate([pi0["phi"] + opening * e2 / energy, pi0["phi"] - opening * e1 / energy]),
            "E": np.concatenate([e1, e2])}


def _empty_stack():
    return {"event": np.array([], int), "x": np.array([]), "y": np.array([]), "phi": np.array([]), "T": np.array([]),
            "code": np.array([], int)}


def _empty_photons():
    return {"event": np.array([], int), "x": np.array([]), "y": np.array([]), "phi": np.array([]), "E": np.array([])}


def _select(table, mask):
    return {k: v[mask] for k, v in table.items()}


def _concatenate(a, b):
    return {k: np.concatenate([a[k], b[k]]) for k in a}


LARTPC = LarTpc()
