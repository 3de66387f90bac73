"""Reading a file of the published photon-jet dataset's size: peak memory.

A file in the published layout (arXiv 2401.15690: float64 ``layer_0`` ... ``layer_3``,
960 cells per event, ``energy`` (N, 1), ``overflow`` (N, 4); 100k events, about
770 MB) is written with plain h5py, then read four ways, each in a fresh process whose
peak resident memory above its state after the imports is reported:

1. baseline: every layer as stored (float64), with h5py alone;
2. ``io.read_showers`` of the whole file (float32 cells, validated);
3. ``io.iterate_showers`` in chunks, summing the energy per layer (what a study
   needing a summary of every event does);
4. ``io.read_showers`` of the first 10k events (what a smoke-sized study reads).

Each is printed as a ratio to the baseline measured in the same run.

Usage: python benchmarks/bench_real_files.py [--events N] [--chunk N]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

SHAPES = ((4, 16), (4, 128), (16, 16), (16, 8))

READERS = {
    "h5py, as stored (baseline)": "import h5py\nwith h5py.File(path) as f:\n    layers = [f[f'layer_{{i}}'][:] for i "
                                  "in range(4)]",
    "read_showers, whole file": "from analysis_lib.io import read_showers\nsample = read_showers(path)",
    "iterate_showers, chunked": ("from analysis_lib.io import iterate_showers\n"
                                 "sums = sum(c.layer_energy_gev().sum(0) for c in iterate_showers(path, {chunk}))"),
    "read_showers, first 10k events": "from analysis_lib.io import read_showers\nsample = read_showers(path, "
                                      "stop=10000)",
}

MEASURE = """
import resource, sys
import analysis_lib.io, h5py, numpy, uproot
path = sys.argv[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{code}
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def write_published_layout(path, n_events, chunk=10000, seed=0):
    """Showers-like float64 cells (an exponential core, so most cells are small), in
    chunks so that writing never holds the file in memory."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for i, shape in enumerate(SHAPES):
            f.create_dataset(f"layer_{i}", (n_events,) + shape, np.float64)
        f.create_dataset("energy", (n_events, 1), np.float64)
        f.create_dataset("overflow", (n_events, 4), np.float64)
        for first in range(0, n_events, chunk):
            n = min(chunk, n_events - first)
            for i, shape in enumerate(SHAPES):
                f[f"layer_{i}"][first:first + n] = rng.exponential(50.0, (n,) + shape) ** 2 / 100
            f["energy"][first:first + n] = rng.uniform(40, 250, (n, 1))
            f["overflow"][first:first + n] = rng.exponential(10.0, (n, 4))


def peak_mib(code, path):
    done = subprocess.run([sys.executable, "-c", MEASURE.format(code=code), str(path)], capture_output=True,
                          text=True, check=True)
    return float(done.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--chunk", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "axion1_40-250GeV_100k.h5"
        write_published_layout(path, args.events)
        print(f"{args.events} events in the published layout: {path.stat().st_size / 2**20:.0f} MiB")
        peaks = {name: peak_mib(code.format(chunk=args.chunk), path) for name, code in READERS.items()}
    baseline = peaks["h5py, as stored (baseline)"]
    for name, peak in peaks.items():
        print(f"  {name:34s} peak {peak:7.0f} MiB   ratio to baseline {peak / baseline:.2f}")


if __name__ == "__main__":
    main()
