"""An LDMX-like silicon-tungsten ECAL: its geometry, EM showers, hadron tracks, readout
and trigger. Its events (the dark-photon signal and the photonuclear background) are
generated in ``ldmx_events``.

Geometry (physics.md, LDMX ECal): 34 silicon layers (0.5 mm) behind tungsten of
increasing thickness, 141.9 mm of W in all (40.5 X0), front face at z = 240 mm,
last layer at 529 mm; hexagonal pads of 4.82 mm side (0.60 cm^2), odd layers
shifted by one pad side. A 4 GeV electron beam hits a thin target at z = 0.

EM showers use the shared GFlash profile on the W/Si stack: the energy a shower
leaves in the tungsten in front of a layer is sampled by that layer with the
minimum-ionising sampling fraction, and spread laterally with the GFlash two-
component profile over the 19 nearest pads (each pad as the square of equal area).
Then sampling fluctuations (Gamma, 20 %/sqrt(E)), noise and a readout threshold.
The trigger of the original (under 1.5 GeV reconstructed in the first 20 layers,
``LdmxEcal.passes_trigger``, which also takes a real file's hits) is applied by
re-drawing rejected events.

Events are hits: jagged x, y, z (mm) and E (MeV) per event.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..dask_workers import map_streams
from ..errors import ParameterError
from .kinematics import check_event_request
from .ldmx_events import generate_events
from .materials import SILICON, TUNGSTEN, SamplingStack
from .shower import GFlashParameters, cell_fractions, make_showers

EVENTS_PER_STREAM = 1000
#: The original's A' masses in MeV.
SIGNAL_MASSES_MEV = (1, 5, 10, 50, 100, 500, 1000)
#: W in front of each of the 34 silicon layers (mm): pre-shower none; bilayers A
#: (1 + 2x1), B (2 + 2x1.5), C 9 x (3.5 + 2x1.8), D 5 x (7 + 2x3.5): front plate in
#: front of the first layer of a pair, the two cooling plates in front of the second.
TUNGSTEN_MM = (0.0, 0.0, 1.0, 2.0, 2.0, 3.0) + (3.5, 3.6) * 9 + (7.0, 7.0) * 5
MIP_DEDX_MEV_PER_MM = {"W": 2.21, "Si": 0.3876}  # PDG minimum ionisation, dE/dx_min * density
#: No hits: (event, layer) indices, then x, y (mm) and deposit (MeV).
_NO_HITS = (np.array([], int),) * 2 + (np.array([]),) * 3


@dataclass(frozen=True)
class LdmxEcal:
    name: ClassVar[str] = "ldmx-ecal"
    yields: ClassVar[str] = "hits"  # jagged (x, y, z, E) per event, not images
    particles: ClassVar[tuple] = ("signal", "background")
    options: ClassVar[frozenset] = frozenset({"mass"})  # the A' mass
    tungsten_mm: tuple = TUNGSTEN_MM
    silicon_mm: float = 0.5
    front_z_mm: float = 240.0
    last_z_mm: float = 529.0
    pad_side_mm: float = 4.82
    half_width_mm: float = 250.0  # transverse extent, 7 modules
    beam_energy_gev: float = 4.0
    mip_mev: float = 0.130  # a MIP in 0.5 mm Si (the digitisation code's number)
    noise_mip: float = 0.15
    threshold_mip: float = 0.5
    sampling_term: float = 0.20  # sigma/E = a / sqrt(E / GeV)
    trigger_gev: float = 1.5
    trigger_layers: int = 20
    gflash: GFlashParameters = field(init=False)

    def __post_init__(self):
        mean_w = float(np.mean(self.tungsten_mm))
        object.__setattr__(self, "gflash", GFlashParameters(SamplingStack(TUNGSTEN, mean_w, SILICON, self.silicon_mm)))

    @property
    def n_layers(self):
        return len(self.tungsten_mm)

    @property
    def layer_z_mm(self):
        """z of each silicon layer: tungsten plus a constant gap (electronics, cooling)."""
        steps = np.asarray(self.tungsten_mm[1:]) + self.silicon_mm
        gap = (self.last_z_mm - self.front_z_mm - steps.sum()) / len(steps)
        return self.front_z_mm + np.concatenate([[0.0], np.cumsum(steps + gap)])

    @property
    def layer_depth_x0(self):
        """Radiation lengths of tungsten in front of each layer (silicon adds < 1 %)."""
        return np.cumsum(self.tungsten_mm) / TUNGSTEN.radiation_length_mm

    @property
    def sampling_fraction(self):
        """Silicon's share of a MIP's energy loss in (tungsten in front + silicon), per layer."""
        si = MIP_DEDX_MEV_PER_MM["Si"] * self.silicon_mm
        return si / (si + MIP_DEDX_MEV_PER_MM["W"] * np.asarray(self.tungsten_mm))

    def layer_at(self, z_mm):
        """Index of the layer nearest to each ``z_mm``."""
        edges = (self.layer_z_mm[1:] + self.layer_z_mm[:-1]) / 2
        return np.searchsorted(edges, np.asarray(z_mm, dtype=np.float64))

    def sampling_fraction_at(self, z_mm):
        """The sampling fraction of the layer nearest to each ``z_mm``: turns calibrated hit
        energies (ldmx-sw's EcalRecHits) back into energies deposited in the silicon."""
        return self.sampling_fraction[self.layer_at(z_mm)]

    def passes_trigger(self, z_mm, energy_mev):
        """The original study's trigger on events of hits (jagged, awkward or lists of
        arrays; z in mm, deposited E in MeV): under ``trigger_gev`` reconstructed
        (deposits over the sampling fraction) in the first ``trigger_layers`` layers.
        The simulation keeps only events that pass; apply it to a real file's events."""
        import awkward as ak

        z, energy = ak.Array(z_mm), ak.Array(energy_mev)
        counts = np.asarray(ak.num(energy))
        flat_z, flat_e = np.asarray(ak.flatten(z), np.float64), np.asarray(ak.flatten(energy), np.float64)
        front = self.layer_at(flat_z) < self.trigger_layers
        event = np.repeat(np.arange(len(counts)), counts)
        reconstructed = np.bincount(event[front], flat_e[front] / self.sampling_fraction_at(flat_z[front]),
                                    minlength=len(counts)) / 1000.0
        return reconstructed < self.trigger_gev

    # -- pads ---------------------------------------------------------------------
    def pad_centres(self, x_mm, y_mm, layer):
        """Centre of the hexagonal pad holding (x, y) in ``layer`` (pointy-top axial
        grid; odd layers shifted by one pad side in x, so their pads straddle the even
        layers' pads: a whole pitch would be a symmetry of the grid and change nothing)."""
        side = self.pad_side_mm
        shift = np.where(np.asarray(layer) % 2 == 1, side, 0.0)
        x = np.asarray(x_mm) - shift
        q = (np.sqrt(3) / 3 * x - np.asarray(y_mm) / 3) / side
        r = (2 / 3 * np.asarray(y_mm)) / side
        # cube rounding: round all three, fix the one that moved most
        s = -q - r
        rq, rr, rs = np.round(q), np.round(r), np.round(s)
        dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
        rq = np.where((dq > dr) & (dq > ds), -rr - rs, rq)
        rr = np.where(~((dq > dr) & (dq > ds)) & (dr > ds), -rq - rs, rr)
        return side * np.sqrt(3) * (rq + rr / 2) + shift, side * 1.5 * rr

    def _neighbour_offsets(self):
        """Offsets (19, 2) of a pad and its two rings of neighbours."""
        side = self.pad_side_mm
        q, r = np.meshgrid(np.arange(-2, 3), np.arange(-2, 3))
        keep = np.abs(-q - r) <= 2
        q, r = q[keep], r[keep]
        return np.column_stack([side * np.sqrt(3) * (q + r / 2), side * 1.5 * r])

    # -- energy deposits -------------------------------------------------------------
    def em_hits(self, energy_gev, x_mm, y_mm, slope_x, slope_y, start_z_mm, is_photon, rng):
        """Silicon deposits (MeV, before readout) of EM showers entering at the front face
        at (x, y) with slopes dx/dz, dy/dz, starting no earlier than ``start_z_mm``.
        Returns flat arrays (shower, layer, x, y, E)."""
        showers = make_showers(self.gflash, energy_gev, is_photon, rng)
        depth = self.layer_depth_x0
        z = self.layer_z_mm
        start_x0 = np.interp(start_z_mm, z, depth, left=0.0)
        showers.start_x0 = showers.start_x0 + start_x0
        offsets = self._neighbour_offsets()
        pad_area = 1.5 * np.sqrt(3) * self.pad_side_mm**2
        half = 0.5 * np.sqrt(pad_area) / self.gflash.stack.moliere_radius_mm
        records = []
        for layer in range(self.n_layers):
            front = depth[layer - 1] if layer else 0.0
            fraction, _, tau = showers.slice(front, depth[layer] + 1e-9)
            visible = 1000.0 * showers.energy_gev * fraction * self.sampling_fraction[layer]
            active = np.flatnonzero(visible > 0.05 * self.mip_mev)
            if active.size == 0:
                continue
            axis_x = x_mm[active] + slope_x[active] * (z[layer] - self.front_z_mm)
            axis_y = y_mm[active] + slope_y[active] * (z[layer] - self.front_z_mm)
            cx, cy = self.pad_centres(axis_x, axis_y, layer)
            pad_x = cx[:, None] + offsets[:, 0]
            pad_y = cy[:, None] + offsets[:, 1]
            r_m = self.gflash.stack.moliere_radius_mm
            dx = (pad_x - axis_x[:, None]) / r_m
            dy = (pad_y - axis_y[:, None]) / r_m
            r_core, r_tail, p = self.gflash.lateral(showers.energy_gev[active], tau[active])
            share = np.zeros_like(dx)
            for radius, weight in ((r_core, p), (r_tail, 1 - p)):
                edges_x = np.stack([dx - half, dx + half], axis=-1)
                edges_y = np.stack([dy - half, dy + half], axis=-1)
                radii = np.broadcast_to(radius[:, None], dx.shape)
                share += weight[:, None] * cell_fractions(edges_x, edges_y, radii)[..., 0, 0]
            records.append((np.repeat(active, len(offsets)), np.full(share.size, layer), pad_x.ravel(), pad_y.ravel(),
                            (visible[active, None] * share).ravel()))
        return tuple(np.concatenate(parts) for parts in zip(*records)) if records else _NO_HITS

    def track_hits(self, x0_mm, y0_mm, z0_mm, direction, kinetic_mev, is_proton, rng):
        """Silicon deposits of charged hadrons: straight tracks from (x0, y0, z0) with unit
        ``direction`` (n, 3), losing a MIP's dE/dx in W and Si (times 1/cos theta), with
        Landau-like (Moyal) fluctuations; protons rise towards a Bragg peak and stop
        when their kinetic energy is spent; pions interact after about one lambda_int.
        Returns flat arrays (track, layer, x, y, E)."""
        from scipy.stats import moyal

        z = self.layer_z_mm
        cos_theta = np.clip(direction[:, 2], 0.05, 1.0)
        remaining = np.asarray(kinetic_mev, float).copy()
        interaction_z = z0_mm + rng.exponential(96.0, len(remaining)) * cos_theta  # lambda_int(W) ~ 9.6 cm
        records = []
        for layer in range(self.n_layers):
            alive = (z[layer] > z0_mm) & (remaining > 0) & (z[layer] < np.where(is_proton, np.inf, interaction_z))
            index = np.flatnonzero(alive)
            if index.size == 0:
                continue
            path = 1.0 / cos_theta[index]
            # Bragg rise for slow protons: dE/dx ~ 1/beta^2, beta^2 ~ 2T/m for T << m
            bragg = np.where(is_proton[index], np.clip(1.0 / np.clip(2 * remaining[index] / 938.0, 1e-3, None), 1, 8),
                             1.0)
            remaining[index] -= MIP_DEDX_MEV_PER_MM["W"] * self.tungsten_mm[layer] * path * bragg
            landau = moyal.rvs(size=index.size, random_state=rng) * 0.12 + 1.0
            deposit = self.mip_mev * path * bragg * np.clip(landau, 0.3, 20)
            dz = z[layer] - z0_mm[index]
            x = x0_mm[index] + direction[index, 0] / cos_theta[index] * dz
            y = y0_mm[index] + direction[index, 1] / cos_theta[index] * dz
            inside = (np.abs(x) < self.half_width_mm) & (np.abs(y) < self.half_width_mm)
            records.append((index[inside], np.full(inside.sum(), layer), x[inside], y[inside], deposit[inside]))
        return tuple(np.concatenate(parts) for parts in zip(*records)) if records else _NO_HITS

    def readout(self, event, layer, x, y, deposit_mev, n_events, rng):
        """Sum deposits per pad, apply Gamma sampling fluctuations (on the energy the pad
        stands for), noise and the threshold. Returns per-hit arrays sorted by event."""
        cx, cy = self.pad_centres(x, y, layer)
        keep = (np.abs(cx) < self.half_width_mm) & (np.abs(cy) < self.half_width_mm) & (deposit_mev > 0)
        event, layer, cx, cy, deposit_mev = event[keep], layer[keep], cx[keep], cy[keep], deposit_mev[keep]
        key = np.stack([event, layer, np.round(cx * 10).astype(np.int64), np.round(cy * 10).astype(np.int64)], axis=1)
        unique, inverse = np.unique(key, axis=0, return_inverse=True)
        energy = np.bincount(inverse.ravel(), weights=deposit_mev, minlength=len(unique))
        equivalent_gev = energy / self.sampling_fraction[unique[:, 1]] / 1000.0
        a2 = self.sampling_term**2
        energy = rng.gamma(equivalent_gev / a2, a2) * self.sampling_fraction[unique[:, 1]] * 1000.0
        energy += self.noise_mip * self.mip_mev * rng.standard_normal(len(energy))
        hit = energy > self.threshold_mip * self.mip_mev
        unique, energy = unique[hit], energy[hit]
        return {"event": unique[:, 0], "layer": unique[:, 1], "x": unique[:, 2] / 10.0, "y": unique[:, 3] / 10.0,
                "z": self.layer_z_mm[unique[:, 1]], "E": energy}

    def reconstructed_energy_gev(self, hits, n_events, max_layer=None):
        """Sum of hit energies over the sampling fraction, per event (layers below ``max_layer``)."""
        use = np.ones(len(hits["E"]), bool) if max_layer is None else hits["layer"] < max_layer
        return np.bincount(hits["event"][use], weights=hits["E"][use] / self.sampling_fraction[hits["layer"][use]],
                           minlength=n_events) / 1000.0

    def simulate_stream(self, particle, n_events, seed, stream, mass_mev=100.0):
        """``n_events`` triggered events (``particle`` "signal" with an A' of ``mass_mev``, or
        "background"), as jagged hits: dict with "eventNumber", "x", "y", "z", "E"
        (lists of arrays, one per event) and truth arrays."""
        rng = np.random.default_rng([seed, stream])
        kept_hits, kept_truth, n_kept, n_tried = [], [], 0, 0
        while n_kept < n_events:
            batch = max(2 * (n_events - n_kept), 64)
            hits, truth = generate_events(self, batch, particle, mass_mev, rng)
            passed = self.reconstructed_energy_gev(hits, batch, self.trigger_layers) < self.trigger_gev
            selected = np.flatnonzero(passed)[: n_events - n_kept]
            kept_hits.append(_split_events(hits, selected))
            kept_truth.append({k: v[selected] for k, v in truth.items()})
            n_kept += selected.size
            n_tried += batch
            if n_tried > 200 * n_events:
                raise ParameterError(f"almost no {particle} events pass the trigger; check the detector settings")
        out = {key: [a for part in kept_hits for a in part[key]] for key in ("x", "y", "z", "E")}
        out.update({k: np.concatenate([t[k] for t in kept_truth]) for k in kept_truth[0]})
        out["eventNumber"] = stream * EVENTS_PER_STREAM + np.arange(n_events)
        out["mass_mev"] = np.full(n_events, mass_mev if particle == "signal" else 0.0)
        return out

    def simulate(self, particle, n_events, *, seed=0, mapper=None, mass_mev=100.0):
        if particle not in ("signal", "background"):
            raise ParameterError(f"the LDMX simulation makes 'signal' or 'background' events, not {particle!r}")
        if particle == "signal" and not 0 < mass_mev < 1000 * self.beam_energy_gev:
            raise ParameterError(f"the A' mass must be between 0 and {1000 * self.beam_energy_gev:g} MeV, got "
                                 f"{mass_mev}")
        check_event_request(n_events, (self.beam_energy_gev, self.beam_energy_gev))
        return map_streams(lambda n, stream: self.simulate_stream(particle, n, seed, stream, mass_mev), n_events,
                           EVENTS_PER_STREAM, mapper)


def _split_events(hits, selected):
    """Per-event arrays (float32) of the hits of the ``selected`` events, in that order."""
    order = np.argsort(hits["event"], kind="stable")
    sorted_event = hits["event"][order]
    starts = np.searchsorted(sorted_event, selected, side="left")
    stops = np.searchsorted(sorted_event, selected, side="right")
    return {key: [hits[key][order[a:b]].astype(np.float32) for a, b in zip(starts, stops)] for key in ("x", "y", "z",
                                                                                                       "E")}


LDMX_ECAL = LdmxEcal()
