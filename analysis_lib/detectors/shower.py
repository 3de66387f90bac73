"""The shared electromagnetic shower model: GFlash for sampling calorimeters.

Longitudinal profile (Grindhammer & Peters, hep-ex/0001020), per shower

    dE/dt = E * beta (beta t)^(alpha - 1) exp(-beta t) / Gamma(alpha),

with t in radiation lengths after the shower start, and (ln T, ln alpha)
drawn from a correlated 2-D Gaussian (T = (alpha - 1)/beta is the depth of
maximum). Photons start at a conversion depth drawn from exp(-7 t / 9).

Lateral profile, at reduced depth tau = t / T, in Moliere radii:

    f(r) = p * 2 r R_c^2 / (r^2 + R_c^2)^2 + (1 - p) * 2 r R_t^2 / (r^2 + R_t^2)^2.

Instead of throwing GFlash "spots" one by one, the model integrates this density
analytically over each cell (``rectangle_fraction``) for a few depth slices per
layer; sampling fluctuations and noise are then applied per cell by the
detector. That keeps the mean shape exact and the simulation vectorised. Where the
spots' own cell-to-cell fluctuation matters, ``spot_fluctuations`` draws them
afterwards from the integrated cells.

Contents: ``GFlashParameters``, ``Showers``, ``make_showers``, ``axis_jitter_rm``, the cell
integrals (``quarter_plane_fraction``, ``corner_fraction``, ``cell_fractions``,
``slice_cell_energies``), the readout (``Readout``, ``digitise_cells``, ``spot_count``,
``spot_fluctuations``), and the validation helpers ``radial_containment``,
``mean_longitudinal_profile``, ``profile_peak_x0``.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaln

from .materials import SamplingStack

#: Mean photon conversion depth in radiation lengths (pair-production 9/7 X0).
MEAN_CONVERSION_DEPTH_X0 = 9.0 / 7.0


@dataclass(frozen=True)
class GFlashParameters:
    """GFlash's parameterisation of a sampling stack.

    All energies are in GeV; depths in radiation lengths; radii in Moliere radii.
    """

    stack: SamplingStack
    #: Multiplies GFlash's core radius R_c: 1 is GFlash; another value switches the width of
    #: the shower's core alone, to measure what it is worth (the photon-jet gap chapter).
    core_radius_scale: float = 1.0

    def _log_y(self, energy_gev):
        return np.log(1000.0 * np.asarray(energy_gev, dtype=float) / self.stack.critical_energy_mev)

    def mean_log_depth_of_maximum(self, energy_gev):
        """<ln T> = ln(exp<ln T_hom> - 0.55/F_S - 0.69 (1 - e_hat)), <ln T_hom> = ln(ln y - 0.812)."""
        s = self.stack
        t_hom = self._log_y(energy_gev) - 0.812
        return np.log(np.maximum(t_hom - 0.55 / s.sampling_frequency - 0.69 * (1 - s.e_hat), 1.0))

    def mean_log_alpha(self, energy_gev):
        """<ln alpha> = ln(exp<ln alpha_hom> - 0.476/F_S), alpha_hom = 0.81 + (0.458 + 2.26/Z) ln y."""
        s = self.stack
        a_hom = 0.81 + (0.458 + 2.26 / s.z_eff) * self._log_y(energy_gev)
        return np.log(np.maximum(a_hom - 0.476 / s.sampling_frequency, 1.1))

    def fluctuations(self, energy_gev):
        """(sigma ln T, sigma ln alpha, rho) of the per-shower fluctuations; sigmas capped at 0.5."""
        ln_y = self._log_y(energy_gev)
        sigma_t = np.minimum(1.0 / np.maximum(-2.5 + 1.25 * ln_y, 1e-3), 0.5)
        sigma_a = np.minimum(1.0 / np.maximum(-0.82 + 0.79 * ln_y, 1e-3), 0.5)
        rho = 0.784 - 0.023 * ln_y
        return sigma_t, sigma_a, rho

    def mean_profile(self, energy_gev):
        """(T, alpha) of the average profile, exp of the means (no fluctuations)."""
        return np.exp(self.mean_log_depth_of_maximum(energy_gev)), np.exp(self.mean_log_alpha(energy_gev))

    def sample_profiles(self, energy_gev, rng):
        """Draw one (T, alpha) per shower with GFlash's correlated fluctuations."""
        energy_gev = np.asarray(energy_gev, dtype=float)
        mean_t = self.mean_log_depth_of_maximum(energy_gev)
        mean_a = self.mean_log_alpha(energy_gev)
        sigma_t, sigma_a, rho = self.fluctuations(energy_gev)
        z1, z2 = rng.standard_normal((2,) + energy_gev.shape)
        c_plus, c_minus = np.sqrt((1 + rho) / 2), np.sqrt((1 - rho) / 2)
        depth_max = np.exp(mean_t + sigma_t * (c_plus * z1 + c_minus * z2))
        alpha = np.exp(mean_a + sigma_a * (c_plus * z1 - c_minus * z2))
        return np.maximum(depth_max, 1.0), np.maximum(alpha, 1.1)

    def lateral(self, energy_gev, tau):
        """(R_core, R_tail, p_core) in Moliere radii at reduced depth tau = t/T."""
        s = self.stack
        z = s.z_eff
        log_e = np.log(np.asarray(energy_gev, dtype=float))
        tau = np.asarray(tau, dtype=float)
        r_core = 0.0251 + 0.00319 * log_e + (0.1162 - 0.000381 * z) * tau
        k4 = 0.3585 + 0.0412 * log_e
        r_tail = (0.659 - 0.00309 * z) * (np.exp(-2.59 * (tau - 0.645)) + np.exp(k4 * (tau - 0.645)))
        p2, p3 = 0.401 + 0.00187 * z, 1.313 - 0.0686 * log_e
        p_core = (2.632 - 0.00094 * z) * np.exp((p2 - tau) / p3 - np.exp((p2 - tau) / p3))
        # Sampling-calorimeter corrections (GFlash): the active layers see a
        # narrower core and broader tail than a homogeneous block would.
        one_minus_ehat, fs = 1.0 - s.e_hat, s.sampling_frequency
        r_core = r_core - 0.0203 * one_minus_ehat + 0.0397 * np.exp(-tau) / fs
        r_tail = r_tail - 0.14 * one_minus_ehat - 0.495 * np.exp(-tau) / fs
        p_core = p_core + one_minus_ehat * (0.348 - 0.642 * np.exp(-((tau - 1) ** 2)) / fs)
        return (np.maximum(r_core * self.core_radius_scale, 1e-3), np.maximum(r_tail, 1e-2),
                np.clip(p_core, 0.0, 1.0))


@dataclass
class Showers:
    """A batch of EM showers: energy (GeV), start depth and GFlash (T, alpha), one entry each."""

    energy_gev: np.ndarray
    start_x0: np.ndarray
    depth_max_x0: np.ndarray
    alpha: np.ndarray

    @property
    def beta(self):
        return (self.alpha - 1.0) / self.depth_max_x0

    def slice(self, front_x0, back_x0):
        """Energy fraction, mean absolute depth and mean tau in [front_x0, back_x0).

        Uses the incomplete gamma function P: the fraction is
        P(alpha, beta t_hi) - P(alpha, beta t_lo), and the energy-weighted mean
        depth inside the slice is (alpha/beta) [P(alpha+1, .)] / [P(alpha, .)].
        """
        a, b = self.alpha, self.beta
        lo = np.clip(front_x0 - self.start_x0, 0.0, None)
        hi = np.clip(back_x0 - self.start_x0, 0.0, None)
        fraction = gammainc(a, b * hi) - gammainc(a, b * lo)
        first_moment = (a / b) * (gammainc(a + 1, b * hi) - gammainc(a + 1, b * lo))
        mid = 0.5 * (lo + hi)
        t_mean = np.where(fraction > 1e-12, first_moment / np.maximum(fraction, 1e-300), mid)
        return fraction, self.start_x0 + t_mean, t_mean / self.depth_max_x0


def make_showers(params: GFlashParameters, energy_gev, is_photon, rng) -> Showers:
    """Draw start depths (photons convert after exp(-7t/9)) and profile parameters."""
    energy_gev = np.asarray(energy_gev, dtype=float)
    is_photon = np.broadcast_to(np.asarray(is_photon, dtype=bool), energy_gev.shape)
    start = np.where(is_photon, rng.exponential(MEAN_CONVERSION_DEPTH_X0, energy_gev.shape), 0.0)
    depth_max, alpha = params.sample_profiles(energy_gev, rng)
    return Showers(energy_gev, start, depth_max, alpha)


def axis_jitter_rm(showers: Showers, fraction, scale_rm, rng):
    """Random (dx, dy) shifts, in Moliere radii, of each shower's axis in one depth slice.

    A slice holding energy E f is treated as the sum of many independent spots, so its
    energy centroid wanders by sigma = scale_rm / sqrt(E f / GeV) per axis. Summed over
    slices, the centroid of the whole shower wanders by scale_rm / sqrt(E / GeV), the
    intrinsic (cell-size independent) part of the position resolution.
    """
    energy = np.maximum(showers.energy_gev * fraction, 1e-6)
    sigma = np.minimum(scale_rm / np.sqrt(energy), 1.0)  # a nearly empty slice cannot move far
    return sigma * rng.standard_normal(energy.shape), sigma * rng.standard_normal(energy.shape)


def quarter_plane_fraction(x, y, radius):
    """H(x, y) = integral over [0, x] x [0, y] of rho(r) = R^2 / (pi (r^2 + R^2)^2).

    H = [x/s_x atan(y/s_x) + y/s_y atan(x/s_y)] / (2 pi), s_x = sqrt(x^2 + R^2);
    odd in x and in y, and H -> 1/4 as x, y -> infinity.
    """
    s_x = np.sqrt(x * x + radius * radius)
    s_y = np.sqrt(y * y + radius * radius)
    return (x / s_x * np.arctan(y / s_x) + y / s_y * np.arctan(x / s_y)) / (2 * np.pi)


def corner_fraction(x, y, radius):
    """G(x, y): fraction of one lateral component below x and below y.

    G = 1/4 + M(x)/2 + M(y)/2 + H(x, y), with M(x) = x / (2 sqrt(x^2 + R^2)) the
    fraction between 0 and x of the 1-D marginal.
    """
    return (0.25 + 0.25 * x / np.sqrt(x * x + radius * radius) + 0.25 * y / np.sqrt(y * y + radius * radius)
            + quarter_plane_fraction(x, y, radius))


def cell_fractions(x_edges, y_edges, radius):
    """Fraction of a lateral component in each cell of a grid.

    ``x_edges`` (..., nx + 1) and ``y_edges`` (..., ny + 1) are cell edges relative
    to the shower axis, in the units of ``radius`` (..., broadcastable). Returns
    (..., nx, ny).
    """
    g = corner_fraction(x_edges[..., :, None], y_edges[..., None, :], radius[..., None, None])
    return g[..., 1:, 1:] - g[..., 1:, :-1] - g[..., :-1, 1:] + g[..., :-1, :-1]


def slice_cell_energies(params: GFlashParameters, showers: Showers, fraction, tau, x_edges, y_edges):
    """Energy (GeV) each shower leaves in each cell from one depth slice:
    E f_slice [p G(R_core) + (1 - p) G(R_tail)], with G the cell fractions of
    ``cell_fractions`` (edges in Moliere radii, relative to each shower's axis)."""
    r_core, r_tail, p_core = params.lateral(showers.energy_gev, tau)
    p = p_core[:, None, None]
    profile = p * cell_fractions(x_edges, y_edges, r_core) + (1 - p) * cell_fractions(x_edges, y_edges, r_tail)
    return (showers.energy_gev * fraction)[:, None, None] * profile


def digitise_cells(image_gev, sampling_term, calibration, noise_mev, zero_suppression_sigma, rng):
    """Readout of one layer, MeV out (float32): sampling fluctuations
    Gamma(k = E/a^2, scale = a^2) (mean E, variance a^2 E, so sigma/E = a/sqrt(E)),
    a per-event calibration factor, Gaussian noise, and symmetric zero suppression:
    cells with |E| below ``zero_suppression_sigma`` times the noise become zero, as in
    real read-outs, so a stored cell may be negative. A zero ``sampling_term`` or
    ``noise_mev`` switches that effect off."""
    if sampling_term > 0:
        a2 = sampling_term**2
        sampled = rng.gamma(np.maximum(image_gev, 0.0) / a2, a2) * 1000.0
    else:
        sampled = image_gev * 1000.0
    sampled = sampled * calibration[:, None, None]
    if noise_mev > 0:
        sampled = sampled + noise_mev * rng.standard_normal(image_gev.shape)
        sampled[np.abs(sampled) < zero_suppression_sigma * noise_mev] = 0.0
    return sampled.astype(np.float32)


def spot_count(stack: SamplingStack, energy_gev):
    """GFlash's number of energy spots of a shower, N = 93 ln(Z_eff) (E / GeV)^0.876
    (Grindhammer & Peters, hep-ex/0001020, the homogeneous-medium form: the spots
    stand for all energy deposited, absorber and active medium together)."""
    return 93.0 * np.log(stack.z_eff) * np.maximum(np.asarray(energy_gev, dtype=float), 0.0) ** 0.876


def spot_fluctuations(images_gev, stack: SamplingStack, rng):
    """The deposited energy as GFlash energy spots: each event's N = ``spot_count`` spots
    of equal energy land in the cells of all layers with probabilities proportional to
    the mean images (a multinomial draw, so the event's total is kept). A cell holding
    E_cell then fluctuates with variance close to E_spot E_cell, E_spot = E / N. The
    mean-profile model alone has no such cell-to-cell fluctuation; real showers (and
    the published photon-jet files, which store all deposited energy) do."""
    flat = [np.maximum(image, 0.0).reshape(len(image), -1) for image in images_gev]
    energy = np.concatenate(flat, axis=1)
    total = energy.sum(axis=1)
    n_spots = np.round(spot_count(stack, total)).astype(np.int64)
    probabilities = energy / np.maximum(total, 1e-12)[:, None]
    probabilities[total <= 0, 0] = 1.0  # an empty event: all (zero) spots in one cell
    counts = rng.multinomial(n_spots, probabilities)
    spotted = counts * (total / np.maximum(n_spots, 1))[:, None]
    sizes = np.cumsum([0] + [f.shape[1] for f in flat])
    return [spotted[:, lo:hi].reshape(image.shape) for lo, hi, image in zip(sizes[:-1], sizes[1:], images_gev)]


@dataclass(frozen=True)
class Readout:
    """Which effects turn a shower's mean deposited energy into a stored cell energy.

    Each can be switched off to measure what it costs (``AtlasLikeEcal.with_readout``):

        spots             GFlash energy-spot fluctuations of the deposited energy
                          (``spot_fluctuations``): energy moves between cells, each
                          event's total stays, so the resolution does not change
        sampling          sampling fluctuations, Gamma with variance a^2 E_cell
        constant_term     one calibration factor 1 + c N(0, 1) per event
        noise             Gaussian electronic noise per cell
        zero_suppression  |E_cell| below k sigma_noise set to zero (needs noise)

    ``Readout.published()`` is the digitisation of the published photon-jet files: all
    energy deposited in the cell's absorber and active medium, with its spot
    fluctuations, and nothing else.
    """

    spots: bool = True
    sampling: bool = True
    constant_term: bool = True
    noise: bool = True
    zero_suppression: bool = True

    @classmethod
    def published(cls):
        return cls(sampling=False, constant_term=False, noise=False, zero_suppression=False)


def radial_containment(params: GFlashParameters, showers: Showers, radius_rm, back_x0, n_slices=48):
    """Fraction of each shower's energy within ``radius_rm`` Moliere radii of its axis
    and in front of ``back_x0``: sum over depth slices of
    f_slice [p r^2/(r^2 + R_c^2) + (1 - p) r^2/(r^2 + R_t^2)]."""
    edges = np.linspace(0.0, back_x0, n_slices + 1)
    contained = np.zeros_like(showers.energy_gev)
    r2 = radius_rm**2
    for front, back in zip(edges[:-1], edges[1:]):
        fraction, _, tau = showers.slice(front, back)
        r_core, r_tail, p = params.lateral(showers.energy_gev, tau)
        contained += fraction * (p * r2 / (r2 + r_core**2) + (1 - p) * r2 / (r2 + r_tail**2))
    return contained


def mean_longitudinal_profile(showers: Showers, depth_x0):
    """Average of the showers' dE/dt (fraction of energy per X0) at ``depth_x0``."""
    t = np.asarray(depth_x0, dtype=float)[None, :] - showers.start_x0[:, None]
    a, b = showers.alpha[:, None], showers.beta[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pdf = a * np.log(b) + (a - 1) * np.log(np.where(t > 0, t, 1.0)) - b * t - gammaln(a)
    return np.where(t > 0, np.exp(log_pdf), 0.0).mean(axis=0)



def profile_peak_x0(showers: Showers, depth_x0):
    """Depth (X0) where the showers' mean longitudinal profile peaks, on the grid given."""
    depth_x0 = np.asarray(depth_x0, dtype=float)
    return depth_x0[np.argmax(mean_longitudinal_profile(showers, depth_x0))]
