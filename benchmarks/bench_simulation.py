"""Simulation speed and memory of the ATLAS-like ECAL.

1. Events per second of the vectorised simulation, per particle, and in the same
   run the rate of a straightforward implementation of the same physics: GFlash
   energy "spots" thrown one by one in a Python loop and binned into the cells
   (GFlash's spot count, about 94 E^0.96 per shower). Printed as a ratio.
2. Peak resident memory while writing a 100k-event HDF5 file, against the size the
   events would take if held in memory at once.

Usage: python benchmarks/bench_simulation.py [--events N] [--loop-events N] [--memory-events N]
"""

import argparse
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from analysis_lib.detectors import ATLAS_ECAL, PARTICLES
from analysis_lib.detectors.kinematics import angles_from_momentum, direction_from_angles, final_state


def vectorised_rate(particle, n_events):
    start = time.perf_counter()
    for _ in ATLAS_ECAL.simulate(particle, n_events, seed=1):
        pass
    return n_events / (time.perf_counter() - start)


def per_deposit_loop_event(energy_gev, theta_x, theta_y, is_photon, rng):
    """One event, the straightforward way: a Python loop over GFlash spots."""
    det, gflash, stack = ATLAS_ECAL, ATLAS_ECAL.gflash, ATLAS_ECAL.stack
    images = [np.zeros(layer.shape) for layer in det.layers]
    bounds = [(det.depth_x0(layer.front_mm), det.depth_x0(layer.back_mm)) for layer in det.layers]
    for energy, tx, ty, photon in zip(energy_gev, theta_x, theta_y, is_photon):
        start = random.expovariate(7 / 9) if photon else 0.0
        depth_max, alpha = gflash.sample_profiles(np.array([energy]), rng)
        depth_max, alpha = float(depth_max[0]), float(alpha[0])
        beta = (alpha - 1) / depth_max
        n_spots = max(1, int(93.6 * energy**0.959))
        spot_energy = 1000.0 * energy / n_spots
        for _ in range(n_spots):
            t = random.gammavariate(alpha, 1 / beta)
            depth = start + t
            layer_index = next((i for i, (lo, hi) in enumerate(bounds) if lo <= depth < hi), None)
            if layer_index is None:
                continue
            r_core, r_tail, p_core = gflash.lateral(energy, t / depth_max)
            radius = float(r_core if random.random() < p_core else r_tail)
            u = random.random()
            r = radius * math.sqrt(u / (1 - u)) * stack.moliere_radius_mm
            phi = random.uniform(0, 2 * math.pi)
            z = det.front_mm + depth * stack.radiation_length_mm
            layer = det.layers[layer_index]
            angle_phi = math.atan((z * math.tan(tx) + r * math.cos(phi)) / z)
            angle_eta = math.atan((z * math.tan(ty) + r * math.sin(phi)) / z)
            i = int((angle_phi + layer.half_width_rad) / layer.cell_size_rad[0])
            j = int((angle_eta + layer.half_width_rad) / layer.cell_size_rad[1])
            if 0 <= i < layer.n_phi and 0 <= j < layer.n_eta:
                images[layer_index][i, j] += spot_energy
    return images


def loop_rate(particle, n_events):
    rng = np.random.default_rng(2)
    random.seed(2)
    energy = rng.uniform(40, 250, n_events)
    p4, is_photon = final_state(particle, energy, direction_from_angles(np.zeros(n_events), np.zeros(n_events)), rng)
    theta_x, theta_y = angles_from_momentum(p4)
    start = time.perf_counter()
    for i in range(n_events):
        per_deposit_loop_event(p4[i, :, 0], theta_x[i], theta_y[i], is_photon, rng)
    return n_events / (time.perf_counter() - start)


MEMORY_SCRIPT = """
import resource, sys, tracemalloc
from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.simulation import simulate_to_files
import h5py, uproot, scipy.special  # imported before the baseline is taken
tracemalloc.start()  # NumPy reports its buffers to tracemalloc
simulate_to_files(ATLAS_ECAL, "gamma", int(sys.argv[1]), [sys.argv[2]], seed=3, progress=False)
print(tracemalloc.get_traced_memory()[1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory_mb(n_events):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.h5"
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n_events), str(path)],
                             capture_output=True, text=True, check=True).stdout.split()
        seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
    traced_mb, rss_mb = int(out[0]) / 1e6, int(out[1]) / 1024
    return traced_mb, rss_mb, size_mb, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per particle, vectorised")
    parser.add_argument("--loop-events", type=int, default=5, help="events per particle, Python loop")
    parser.add_argument("--memory-events", type=int, default=100_000)
    args = parser.parse_args()

    print(f"{'particle':10s} {'vectorised [ev/s]':>18s} {'per-deposit loop [ev/s]':>24s} {'ratio':>8s}")
    for particle in PARTICLES:
        fast, slow = vectorised_rate(particle, args.events), loop_rate(particle, args.loop_events)
        print(f"{particle:10s} {fast:18.0f} {slow:24.2f} {fast / slow:8.0f}")

    in_memory_mb = args.memory_events * sum(n * m for n, m in ATLAS_ECAL.layer_shapes) * 4 / 1e6
    traced, rss, size, seconds = peak_memory_mb(args.memory_events)
    print(f"\n{args.memory_events} gamma events to HDF5 in {seconds:.0f} s, file {size:.0f} MB")
    print(f"peak memory allocated while simulating and writing: {traced:.0f} MB (process peak RSS {rss:.0f} MB)")
    print(f"the same images held in memory at once: {in_memory_mb:.0f} MB; ratio {traced / in_memory_mb:.2f}")


if __name__ == "__main__":
    main()
