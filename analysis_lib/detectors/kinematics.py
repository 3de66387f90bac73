"""Particle sources: the primaries of the photon-jet study and their decays.

Four-vectors are arrays (..., 4) ordered (E, px, py, pz) in GeV. Decays are
isotropic in the parent's rest frame (all parents are spin 0) and three-body
decays follow flat phase space, dGamma/dm12 ~ p1*(m12) p3(M, m12).
"""

import numpy as np

from ..errors import ParameterError

PI0_MASS_GEV = 0.1349768
ELECTRON_MASS_GEV = 0.000511

#: Particle name -> (description, number of final EM particles, their types).
PARTICLES = {
    "gamma": ("single photon", 1),
    "electron": ("single electron", 1),
    "pi0": ("pi0 -> gamma gamma", 2),
    "scalar1": ("h2 -> pi0 pi0 -> 4 gamma", 4),
    "axion1": ("a -> gamma gamma", 2),
    "axion2": ("a -> 3 pi0 -> 6 gamma", 6),
}
#: Signals whose mass is a parameter, with the smallest mass the decay allows.
SIGNAL_MIN_MASS_GEV = {"scalar1": 2 * PI0_MASS_GEV, "axion1": 0.0, "axion2": 3 * PI0_MASS_GEV}


def check_signal_mass(particle, mass_gev):
    """Refuse a parent mass that cannot decay as ``particle`` says."""
    if particle in SIGNAL_MIN_MASS_GEV and not mass_gev > SIGNAL_MIN_MASS_GEV[particle]:
        raise ParameterError(
            f"{particle} needs a mass above {SIGNAL_MIN_MASS_GEV[particle]:.3f} GeV, got {mass_gev} GeV")


def check_event_request(n_events, energy_range_gev):
    """Refuse a number of events that is not a positive integer, or an energy range
    that is not 0 < low <= high (GeV, finite)."""
    if int(n_events) != n_events or n_events < 1:
        raise ParameterError(f"the number of events must be a positive integer, got {n_events!r}")
    low, high = energy_range_gev
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ParameterError(f"the energy range must satisfy 0 < low <= high GeV, got {tuple(energy_range_gev)}")


def direction_from_angles(theta_x, theta_y):
    """Unit vectors pointing at angles atan(x/z) = theta_x, atan(y/z) = theta_y."""
    v = np.stack([np.tan(theta_x), np.tan(theta_y), np.ones_like(theta_x)], axis=-1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def angles_from_momentum(p4):
    """(atan(px/pz), atan(py/pz)) of four-vectors (..., 4)."""
    return np.arctan2(p4[..., 1], p4[..., 3]), np.arctan2(p4[..., 2], p4[..., 3])


def boost(p4, velocity):
    """Lorentz-boost four-vectors p4 (..., 4) by velocity vectors (..., 3) (units of c)."""
    b2 = np.sum(velocity**2, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(velocity * p4[..., 1:], axis=-1, keepdims=True)
    energy = gamma * (p4[..., :1] + bp)
    coef = np.where(b2 > 0, (gamma - 1.0) * bp / np.where(b2 > 0, b2, 1.0), 0.0) + gamma * p4[..., :1]
    return np.concatenate([energy, p4[..., 1:] + coef * velocity], axis=-1)


def _isotropic(n, rng):
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def _breakup_momentum(mass, m1, m2):
    """Momentum of the daughters of a two-body decay in the parent's rest frame."""
    arg = (mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)
    return np.sqrt(np.clip(arg, 0.0, None)) / (2.0 * mass)


def _rest_frame_pair(mass, m1, m2, rng):
    n = np.shape(mass)[0]
    m1, m2 = (np.broadcast_to(m, (n,))[:, None] for m in (m1, m2))
    p = _breakup_momentum(mass[:, None], m1, m2) * _isotropic(n, rng)
    d1 = np.concatenate([np.sqrt(m1**2 + np.sum(p**2, -1, keepdims=True)), p], axis=-1)
    d2 = np.concatenate([np.sqrt(m2**2 + np.sum(p**2, -1, keepdims=True)), -p], axis=-1)
    return d1, d2


def two_body_decay(parent, m1, m2, rng):
    """Decay parents (n, 4) isotropically into daughters of masses m1, m2."""
    mass = np.sqrt(np.clip(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, -1), 0.0, None))
    d1, d2 = _rest_frame_pair(mass, m1, m2, rng)
    velocity = parent[:, 1:] / parent[:, :1]
    return boost(d1, velocity), boost(d2, velocity)


def three_body_decay(parent, mass, m, rng):
    """Decay parents (n, 4) of mass ``mass`` into three particles of mass m, flat phase space.

    m12 is drawn by acceptance-rejection on dGamma/dm12 ~ p1*(m12) p3(mass, m12).
    """
    n = parent.shape[0]
    lo, hi = 2 * m, mass - m
    grid = np.linspace(lo, hi, 512)
    weight_max = 1.05 * np.max(_breakup_momentum(grid, m, m) * _breakup_momentum(mass, grid, m))
    m12 = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        trial = rng.uniform(lo, hi, todo.size)
        weight = _breakup_momentum(trial, m, m) * _breakup_momentum(mass, trial, m)
        ok = rng.uniform(0, weight_max, todo.size) < weight
        m12[todo[ok]] = trial[ok]
        todo = todo[~ok]
    pair, third = _rest_frame_pair(np.full(n, mass), m12, np.full(n, m), rng)
    d1, d2 = _rest_frame_pair(m12, np.full(n, m), np.full(n, m), rng)
    pair_velocity = pair[:, 1:] / pair[:, :1]
    d1, d2 = boost(d1, pair_velocity), boost(d2, pair_velocity)
    velocity = parent[:, 1:] / parent[:, :1]
    return boost(d1, velocity), boost(d2, velocity), boost(third, velocity)


def _pi0_photons(pi0, rng):
    return two_body_decay(pi0, 0.0, 0.0, rng)


def final_state(particle, energy_gev, direction, rng, mass_gev=1.0):
    """Final-state EM particles of ``particle`` with energy and direction given.

    Returns (p4 (n, k, 4), is_photon (k,)): electrons are the only non-photons.
    """
    if particle not in PARTICLES:
        raise ParameterError(f"unknown particle {particle!r}; choose one of {', '.join(PARTICLES)}")
    check_signal_mass(particle, mass_gev)
    mass = {"gamma": 0.0, "electron": ELECTRON_MASS_GEV, "pi0": PI0_MASS_GEV}.get(particle, mass_gev)
    energy_gev = np.asarray(energy_gev, dtype=float)
    if np.any(energy_gev <= mass):
        raise ParameterError(f"{particle} energy must exceed its mass {mass} GeV")
    momentum = np.sqrt(energy_gev**2 - mass**2)[:, None] * direction
    parent = np.concatenate([energy_gev[:, None], momentum], axis=-1)
    if particle in ("gamma", "electron"):
        daughters = [parent]
    elif particle in ("pi0", "axion1"):
        daughters = list(two_body_decay(parent, 0.0, 0.0, rng))
    elif particle == "scalar1":
        pions = two_body_decay(parent, PI0_MASS_GEV, PI0_MASS_GEV, rng)
        daughters = [g for pion in pions for g in _pi0_photons(pion, rng)]
    else:  # axion2
        pions = three_body_decay(parent, mass_gev, PI0_MASS_GEV, rng)
        daughters = [g for pion in pions for g in _pi0_photons(pion, rng)]
    is_photon = np.full(len(daughters), particle != "electron")
    return np.stack(daughters, axis=1), is_photon
