"""Dark-photon study: hits-to-images conversion speed and memory.

1. Speed: ``studies.ldmx.hit_images`` (vectorised over a chunk with numpy.bincount)
   against the original's way, a Python loop over events and hits that puts each hit
   on its nearest grid point one at a time, on the same events, as a ratio.
2. Memory: peak Python-heap allocation (tracemalloc) of reading a hit file larger
   than the chunk size with ``io.iterate_hits`` and converting it chunk by chunk,
   against reading the whole file at once.

Usage: python benchmarks/bench_ldmx.py [--events N] [--chunk N]
"""

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import awkward as ak
import numpy as np

from analysis_lib.detectors import LDMX_ECAL
from analysis_lib.simulation import simulate_to_files
from analysis_lib.studies.ldmx import hit_images
from analysis_lib.io import iterate_hits


def images_by_loop(x, y, z, energy, size=20, xy=(-200.0, 200.0), zr=(240.0, 530.0)):
    """One event and one hit at a time: what the vectorised version replaces."""
    grid_xy, grid_z = np.linspace(*xy, size), np.linspace(*zr, size)
    out = []
    for event in range(len(energy)):
        image = np.zeros((size, size, 3))
        for hx, hy, hz, he in zip(x[event], y[event], z[event], energy[event]):
            i, j, k = (int(np.argmin(np.abs(grid - v))) for grid, v in ((grid_xy, hx), (grid_xy, hy), (grid_z, hz)))
            image[i, j, 0] += he
            image[j, k, 1] += he
            image[k, i, 2] += he
        if image.max() > 0:
            out.append(image / image.max())
    return np.array(out)


def peak_mib(function):
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--loop-events", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = simulate_to_files(LDMX_ECAL, "background", args.events, [Path(folder) / "b.root"], seed=1,
                                 progress=False)[0]
        chunk = next(iterate_hits(path, step_size=args.loop_events))
        start = time.perf_counter()
        fast, _ = hit_images(chunk["x"], chunk["y"], chunk["z"], chunk["E"], "xyz")
        fast_rate = len(chunk["E"]) / (time.perf_counter() - start)
        lists = {k: ak.to_list(chunk[k]) for k in ("x", "y", "z", "E")}
        start = time.perf_counter()
        slow = images_by_loop(lists["x"], lists["y"], lists["z"], lists["E"])
        slow_rate = len(chunk["E"]) / (time.perf_counter() - start)
        print(f"hits to xyz images: vectorised {fast_rate:.0f} events/s, per-hit loop {slow_rate:.0f} events/s, "
              f"ratio {fast_rate / slow_rate:.0f} (same images: {np.allclose(fast, slow, atol=1e-6)})")

        def chunked():
            for part in iterate_hits(path, step_size=args.chunk):
                hit_images(part["x"], part["y"], part["z"], part["E"], "xyz")

        def whole():
            part = next(iterate_hits(path, step_size=args.events))
            hit_images(part["x"], part["y"], part["z"], part["E"], "xyz")

        chunked_peak, whole_peak = peak_mib(chunked), peak_mib(whole)
        print(f"{args.events} events ({path.stat().st_size / 2**20:.1f} MiB file): peak memory chunked by {args.chunk} "
              f"{chunked_peak:.0f} MiB, all at once {whole_peak:.0f} MiB, ratio {chunked_peak / whole_peak:.2f}")


if __name__ == "__main__":
    main()
