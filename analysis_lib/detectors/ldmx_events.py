"""The LDMX ECAL's events: the dark-photon signal and the photonuclear background,
generated in a given ``LdmxEcal`` (whose geometry, showers and readout they use).

Events (simplified physics, stated so it can be argued with):

* **signal** e N -> e N A', A' -> invisible: only the recoil electron reaches the
  ECAL. Its share of the beam energy and its transverse momentum grow with the
  A' mass (a parametrisation of the trends, not a matrix element);
* **background**: a hard bremsstrahlung photon (2.8-3.8 GeV) whose photonuclear
  reaction, in the target or in the first radiation lengths of the ECAL, gives a few
  charged hadrons (minimum-ionising pions, short dense proton tracks with a Bragg
  rise), sometimes a pi0, and otherwise invisible neutrons; plus the soft electron.

Contents: ``recoil_electrons``, ``photonuclear_products``, ``generate_events``.
"""

import numpy as np


def recoil_electrons(n, mass_mev, beam_energy_gev, rng):
    """(energy GeV, pT GeV) of the recoil electron: its share of the beam grows with the
    A' mass (mean 3 % at 1 MeV to about 25 % at 1 GeV), its pT with the mass."""
    m = mass_mev / 1000.0
    mean_share = 0.03 + 0.3 * m / (m + 0.25)
    share = rng.beta(2.0, 2.0 / mean_share - 2.0, n)
    energy = np.clip(share * beam_energy_gev, 0.05, beam_energy_gev)
    pt = np.minimum(rng.exponential(0.01 + 0.4 * m, n), 0.8 * energy)
    return energy, pt


def photonuclear_products(n, rng):
    """Photonuclear final states of ``n`` photons: (charged tracks table, pi0 energies)."""
    n_charged = rng.poisson(1.3, n)
    owner = np.repeat(np.arange(n), n_charged)
    is_proton = rng.random(owner.size) < 0.5
    kinetic = np.where(is_proton, rng.exponential(120.0, owner.size), rng.exponential(350.0, owner.size))
    cos_theta = rng.uniform(0.15, 1.0, owner.size)
    phi = rng.uniform(0, 2 * np.pi, owner.size)
    sin_theta = np.sqrt(1 - cos_theta**2)
    direction = np.column_stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])
    has_pi0 = rng.random(n) < 0.3
    pi0_energy = np.where(has_pi0, rng.uniform(0.1, 0.8, n), 0.0)
    return owner, is_proton, kinetic, direction, pi0_energy


def generate_events(ecal, n, kind, mass_mev, rng):
    """One batch of ``n`` events of ``kind`` ("signal", with an A' of ``mass_mev``, or
    "background") in ``ecal``, before the trigger: its hits dict and per-event truth."""
    zeros = np.zeros(n)
    parts = []
    if kind == "signal":
        energy, pt = recoil_electrons(n, mass_mev, ecal.beam_energy_gev, rng)
        phi = rng.uniform(0, 2 * np.pi, n)
        slope = pt / np.sqrt(np.maximum(energy**2 - pt**2, 1e-6))
        sx, sy = slope * np.cos(phi), slope * np.sin(phi)
        x, y = sx * ecal.front_z_mm, sy * ecal.front_z_mm
        parts.append(ecal.em_hits(energy, x, y, sx, sy, np.full(n, ecal.front_z_mm), False, rng))
        truth = {"recoil_energy_gev": energy, "photon_energy_gev": zeros}
    else:
        photon = rng.uniform(2.8, 3.8, n)
        electron = ecal.beam_energy_gev - photon
        ex, ey = rng.normal(0, 0.01, (2, n))  # soft electron: small angles
        parts.append(ecal.em_hits(electron, ex * ecal.front_z_mm, ey * ecal.front_z_mm, ex, ey,
                                  np.full(n, ecal.front_z_mm), False, rng))
        in_target = rng.random(n) < 0.3
        depth_x0 = rng.exponential(9.0 / 7.0, n)
        z_int = np.where(in_target, 0.0, np.interp(depth_x0, ecal.layer_depth_x0, ecal.layer_z_mm))
        owner, is_proton, kinetic, direction, pi0 = photonuclear_products(n, rng)
        parts.append(ecal.track_hits(np.zeros(owner.size), np.zeros(owner.size), z_int[owner], direction, kinetic,
                                     is_proton, rng))
        parts[-1] = (owner[parts[-1][0]],) + parts[-1][1:]
        with_pi0 = np.flatnonzero(pi0 > 0)
        if with_pi0.size:  # the two photons share the pi0 energy, close to the photon axis
            share = rng.uniform(0.2, 0.8, with_pi0.size)
            for part in (share, 1 - share):
                tx, ty = rng.normal(0, 0.15, (2, with_pi0.size))
                start = np.maximum(z_int[with_pi0], ecal.front_z_mm)
                hits = ecal.em_hits(pi0[with_pi0] * part, tx * (ecal.front_z_mm - z_int[with_pi0]),
                                    ty * (ecal.front_z_mm - z_int[with_pi0]), tx, ty, start, True, rng)
                parts.append((with_pi0[hits[0]],) + hits[1:])
        truth = {"recoil_energy_gev": electron, "photon_energy_gev": photon}
    event, layer, x, y, deposit = (np.concatenate(p) for p in zip(*parts))
    hits = ecal.readout(event, layer, x, y, deposit, n, rng)
    return hits, truth
