"""Shashlik study: how fast the Lednev fit and the networks measure the same clusters.

On simulated one- and two-photon clusters (5x5 and 9x9), in the same run:

* the iminuit Lednev fit, one cluster at a time (``studies.shashlik.fit_lednev``);
* the vectorised Levenberg-Marquardt Lednev fit on all clusters (``fit_lednev_batch``);
* inference of the MLP and of the Lednev-seeded network (untrained weights: the cost
  does not depend on them), batch 1024.

Printed as clusters per second and as ratios to the iminuit fit.

Usage: python benchmarks/bench_shashlik.py [--clusters N] [--iminuit-clusters N]
"""

import argparse
import time

import numpy as np

from analysis_lib.detectors import SHASHLIK_ECAL
from analysis_lib.studies.shashlik import cell_clusters, cluster_cell_offsets, cluster_inputs, photon_targets
from analysis_lib.studies.lednev import CellNoise, fit_lednev, fit_lednev_batch
from analysis_lib.studies.shashlik import cluster_regressor, lednev_refiner
from analysis_lib.training import set_seed


def rate(function, n):
    start = time.perf_counter()
    function()
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=4000)
    parser.add_argument("--iminuit-clusters", type=int, default=100)
    args = parser.parse_args()
    layer, x0 = SHASHLIK_ECAL.layer, SHASHLIK_ECAL.stack.radiation_length_mm
    noise = CellNoise.of(SHASHLIK_ECAL)
    set_seed(0)
    for particle, size, n_photons in (("gamma", 5, 1), ("diphoton", 9, 2)):
        chunks = list(SHASHLIK_ECAL.simulate(particle, args.clusters, seed=1))
        image = np.concatenate([c["layer_0"] for c in chunks]) / 1000.0
        clusters, cx, cy = cell_clusters(image, layer, size)
        x, y = cluster_cell_offsets(size, layer.cell_mm)
        subset = clusters[: args.iminuit_clusters]
        iminuit = rate(lambda: [fit_lednev(c, x, y, layer.cell_mm, x0, n_photons, noise=noise) for c in subset],
                       len(subset))
        fitted = []
        batch = rate(lambda: fitted.append(fit_lednev_batch(clusters, x, y, layer.cell_mm, x0, n_photons,
                                                            noise=noise)[0]), len(clusters))
        inputs = cluster_inputs(clusters, cx, cy)
        mlp = cluster_regressor(inputs.shape[1], 3 * n_photons)
        seeded = lednev_refiner(inputs.shape[1], n_photons)
        seed_inputs = [inputs, photon_targets(fitted[0], clusters.sum(axis=(1, 2)),
                                              position_limit_mm=size * layer.cell_mm)]
        mlp.predict(inputs, batch_size=1024, verbose=0)  # warm-up: tracing, thread pools
        seeded.predict(seed_inputs, batch_size=1024, verbose=0)
        mlp_rate = rate(lambda: mlp.predict(inputs, batch_size=1024, verbose=0), len(inputs))
        seeded_rate = rate(lambda: seeded.predict(seed_inputs, batch_size=1024, verbose=0), len(inputs))
        # The seeded network needs the batch fit first: its end-to-end rate combines both.
        seeded_total = 1 / (1 / batch + 1 / seeded_rate)
        print(f"{n_photons} photon(s), {size}x{size}: iminuit Lednev {iminuit:.0f}/s; batch Lednev {batch:.0f}/s "
              f"({batch / iminuit:.0f}x); MLP {mlp_rate:.0f}/s ({mlp_rate / iminuit:.0f}x); "
              f"Lednev-seeded network incl. its fit {seeded_total:.0f}/s ({seeded_total / iminuit:.0f}x)")


if __name__ == "__main__":
    main()
