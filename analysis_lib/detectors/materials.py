"""Materials and sampling stacks, with the effective quantities GFlash needs.

Material constants are the PDG values; a sampling stack (passive + active
layer repeated) gets its effective Z, A, radiation length, critical energy and
Moliere radius by mass-fraction weighting, as in Geant4's GFlash
(``GFlashSamplingShowerParameterisation``).
"""

from dataclasses import dataclass
from functools import cached_property

#: Scale energy of multiple scattering, MeV; R_M = X0 * E_s / E_c.
SCALE_ENERGY_MEV = 21.2


@dataclass(frozen=True)
class Material:
    """A homogeneous material.

    ``radiation_length_g_cm2`` and ``critical_energy_mev`` are PDG values.
    """

    name: str
    z: float
    a: float
    density_g_cm3: float
    radiation_length_g_cm2: float
    critical_energy_mev: float

    @property
    def radiation_length_mm(self) -> float:
        return 10.0 * self.radiation_length_g_cm2 / self.density_g_cm3


LEAD = Material("Pb", 82, 207.2, 11.35, 6.37, 7.43)
LIQUID_ARGON = Material("LAr", 18, 39.948, 1.396, 19.55, 32.84)
TUNGSTEN = Material("W", 74, 183.84, 19.3, 6.76, 7.97)
SILICON = Material("Si", 14, 28.086, 2.329, 21.82, 40.19)
POLYSTYRENE = Material("scintillator", 5.61, 11.16, 1.032, 43.79, 93.11)


@dataclass(frozen=True)
class SamplingStack:
    """A sampling calorimeter: ``passive_mm`` of absorber then ``active_mm`` of
    active medium, repeated.

    Effective quantities weight each material by its mass fraction
    w_i = rho_i d_i / sum_j rho_j d_j.
    """

    passive: Material
    passive_mm: float
    active: Material
    active_mm: float

    @cached_property
    def _weights(self):
        m_pas = self.passive.density_g_cm3 * self.passive_mm
        m_act = self.active.density_g_cm3 * self.active_mm
        return m_pas / (m_pas + m_act), m_act / (m_pas + m_act)

    @property
    def z_eff(self) -> float:
        w_pas, w_act = self._weights
        return w_pas * self.passive.z + w_act * self.active.z

    @property
    def a_eff(self) -> float:
        w_pas, w_act = self._weights
        return w_pas * self.passive.a + w_act * self.active.a

    @property
    def density_g_cm3(self) -> float:
        m = self.passive.density_g_cm3 * self.passive_mm + self.active.density_g_cm3 * self.active_mm
        return m / (self.passive_mm + self.active_mm)

    @property
    def radiation_length_g_cm2(self) -> float:
        """1/X0 = sum_i w_i / X0_i."""
        w_pas, w_act = self._weights
        return 1.0 / (w_pas / self.passive.radiation_length_g_cm2 + w_act / self.active.radiation_length_g_cm2)

    @property
    def radiation_length_mm(self) -> float:
        return 10.0 * self.radiation_length_g_cm2 / self.density_g_cm3

    @property
    def critical_energy_mev(self) -> float:
        """E_c = X0 * sum_i w_i E_c,i / X0_i (energy lost per X0, mass-weighted)."""
        w_pas, w_act = self._weights
        x0 = self.radiation_length_g_cm2
        return x0 * (w_pas * self.passive.critical_energy_mev / self.passive.radiation_length_g_cm2
                     + w_act * self.active.critical_energy_mev / self.active.radiation_length_g_cm2)

    @property
    def moliere_radius_mm(self) -> float:
        return self.radiation_length_mm * SCALE_ENERGY_MEV / self.critical_energy_mev

    @property
    def sampling_frequency(self) -> float:
        """F_S = X0 / (d_active + d_passive): sampling layers per radiation length."""
        return self.radiation_length_mm / (self.passive_mm + self.active_mm)

    @property
    def e_hat(self) -> float:
        """GFlash's e-hat = 1 / (1 + 0.007 (Z_passive - Z_active))."""
        return 1.0 / (1.0 + 0.007 * (self.passive.z - self.active.z))
