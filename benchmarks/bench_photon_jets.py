"""Photon-jet study: training throughput and point-cloud construction speed.

1. Training throughput (events per second, one epoch after a warm-up epoch) of the
   four-branch CNN and of the Particle Flow Network, on simulated events.
2. Point-cloud construction: the vectorised ``studies.photon_jets.point_clouds`` against a
   straightforward per-event Python loop over the cells, in the same run, as a ratio.

Usage: python benchmarks/bench_photon_jets.py [--events N]
"""

import argparse
import time

import numpy as np

from analysis_lib.detectors import ATLAS_ECAL
from analysis_lib.features import log_scaled_images
from analysis_lib.studies.photon_jets import point_clouds, POINT_FEATURES
from analysis_lib.io import ShowerSample
from analysis_lib.studies.photon_jets import particle_flow_network, photon_jet_cnn
from analysis_lib.training import set_seed, train_classifier


def simulate(particle, n_events, seed):
    chunks = list(ATLAS_ECAL.simulate(particle, n_events, seed=seed))
    return ShowerSample([np.concatenate([c[f"layer_{i}"] for c in chunks]) for i in range(4)])


def clouds_by_loop(sample, max_points=128):
    """One event at a time, cell by cell: what the vectorised version replaces."""
    out = np.zeros((len(sample), max_points, 8), np.float32)
    for event in range(len(sample)):
        points = []
        total = sum(float(layer[event].sum()) for layer in sample.layers)
        for index, (layer, image) in enumerate(zip(ATLAS_ECAL.layers, sample.layers)):
            d_phi, d_eta = layer.cell_size_rad
            phi_c = layer.phi_edges_rad[:-1] + d_phi / 2
            eta_c = layer.eta_edges_rad[:-1] + d_eta / 2
            w = float(image[event].sum()) or 1e-9
            phi0 = sum(image[event, i, j] * phi_c[i] for i in range(layer.n_phi) for j in range(layer.n_eta)) / w
            eta0 = sum(image[event, i, j] * eta_c[j] for i in range(layer.n_phi) for j in range(layer.n_eta)) / w
            for i in range(layer.n_phi):
                for j in range(layer.n_eta):
                    e = float(image[event, i, j])
                    if e > 0:
                        x = (layer.phi_edges_rad[i] + d_phi / 2 - phi0) / d_phi
                        y = (layer.eta_edges_rad[j] + d_eta / 2 - eta0) / d_eta
                        tag = [0.0] * 4
                        tag[index] = 1.0
                        points.append([x / (1 + abs(x) / 8), y / (1 + abs(y) / 8), e / total,
                                       np.log10(max(e, 1.0)) / 4, *tag])
        points.sort(key=lambda p: -p[2])
        if points:
            out[event, :min(len(points), max_points)] = np.asarray(points[:max_points], np.float32)
    return out


def training_rate(model, inputs, labels, batch_size=128):
    train_classifier(model, inputs, labels, inputs, labels, epochs=1, batch_size=batch_size)  # warm-up, tracing
    start = time.perf_counter()
    model.fit(inputs, labels, epochs=1, batch_size=batch_size, verbose=0)
    return len(labels) / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events per class")
    parser.add_argument("--loop-events", type=int, default=200)
    args = parser.parse_args()

    sample = simulate("axion1", args.events, seed=1)
    background = simulate("gamma", args.events, seed=2)
    both = ShowerSample([np.concatenate([a, b]) for a, b in zip(sample.layers, background.layers)])
    labels = np.repeat([2, 0], args.events)

    start = time.perf_counter()
    clouds = point_clouds(both, ATLAS_ECAL)
    fast = len(both) / (time.perf_counter() - start)
    subset = ShowerSample([layer[: args.loop_events] for layer in both.layers])
    start = time.perf_counter()
    looped = clouds_by_loop(subset)
    slow = len(subset) / (time.perf_counter() - start)
    same = np.allclose(np.sort(looped[..., 2], axis=1), np.sort(clouds[: args.loop_events, :, 2], axis=1), atol=1e-6)
    print(f"point clouds: vectorised {fast:.0f} events/s, per-event loop {slow:.0f} events/s, "
          f"ratio {fast / slow:.0f} (same energy fractions: {same})")

    images = log_scaled_images(both)
    set_seed(0)
    cnn_rate = training_rate(photon_jet_cnn(ATLAS_ECAL.layer_shapes), images, labels)
    set_seed(0)
    pfn = particle_flow_network(clouds.shape[1], clouds.shape[2],
                                energy_weighted=POINT_FEATURES.index("energy_fraction"))
    pfn_rate = training_rate(pfn, clouds, labels)
    print(f"training throughput: CNN {cnn_rate:.0f} events/s, PFN {pfn_rate:.0f} events/s "
          f"(batch 128, {len(labels)} events)")


if __name__ == "__main__":
    main()
