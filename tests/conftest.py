from pathlib import Path

import pytest

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.simulation import simulate_sample as simulate_in_memory

# ROOT-written files from scikit-hep-testdata (BSD-3-Clause, licence beside them)
FOREIGN_ROOT = Path(__file__).resolve().parent / "data" / "foreign-root"


def pytest_addoption(parser):
    parser.addoption("--record-smoke-numbers", action="store_true",
                     help="record the smoke run's result tables in tests/data/smoke_numbers.json (after a change "
                          "meant to move them), instead of comparing with the record")


@pytest.fixture(scope="session")
def axion1_files(tmp_path_factory):
    """A small axion1 sample written as HDF5 and ROOT from one simulation."""
    folder = tmp_path_factory.mktemp("axion1")
    paths = simulate_to_files(ATLAS_ECAL, "axion1", 1200, [folder / "axion1.h5", folder / "axion1.root"],
                              seed=5, progress=False)
    return {p.suffix: p for p in paths}


def simulate_sample(particle, n_events, seed, detector=ATLAS_ECAL, **options):
    """Simulate in memory into a ShowerSample (with truth)."""
    return simulate_in_memory(detector, particle, n_events, seed=seed, **options)
