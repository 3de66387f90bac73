"""Two kernels side by side, as ``make book`` runs them (``--jobs 2``): the wall time of two
photon-jet CNN trainings at once, with TensorFlow's thread pools at their defaults (each
sized for the whole machine) and sized to each kernel's share of the cores. Both in the
same run, as a ratio; OpenMP and BLAS are sized as the pipeline sizes them
(``pipeline.runner.kernel_thread_settings``) in both. The pipeline leaves TensorFlow's
pools at their defaults because this ratio is about one (1.05 on 2 cores).

Usage: python benchmarks/bench_threads.py [--events N] [--epochs E] [--jobs J]
"""

import argparse
import os
import subprocess
import sys
import time

from analysis_lib.pipeline.runner import kernel_thread_settings

WORKER = """
from analysis_lib.features import log_scaled_images
from analysis_lib.studies.photon_jets import simulated_task, train_photon_jet_cnn
data = simulated_task("axion1", {events}, seed=3)
train_photon_jet_cnn(data, log_scaled_images(data.sample), epochs={epochs}, patience={epochs})
"""


def side_by_side(jobs, env, events, epochs):
    """Wall seconds of ``jobs`` trainings started together with ``env``."""
    start = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER.format(events=events, epochs=epochs)], env=env)
               for _ in range(jobs)]
    if any(worker.wait() for worker in workers):
        sys.exit("a training failed; see its error above")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="simulated events per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    base = {**os.environ, **kernel_thread_settings(args.jobs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    share = str(max(1, (os.cpu_count() or 1) // args.jobs))
    tensorflow_pools = {"TF_NUM_INTRAOP_THREADS": share, "TF_NUM_INTEROP_THREADS": "1"}
    sized = {**base, **tensorflow_pools}
    print(f"{os.cpu_count()} cores, {args.jobs} trainings at once, {args.events} events per class, "
          f"{args.epochs} epochs")
    default_s = side_by_side(args.jobs, base, args.events, args.epochs)
    print(f"TensorFlow's pools at their defaults: {default_s:.0f} s")
    sized_s = side_by_side(args.jobs, sized, args.events, args.epochs)
    pools = ", ".join(f"{name}={value}" for name, value in tensorflow_pools.items())
    print(f"sized to each kernel's share ({pools}): {sized_s:.0f} s")
    print(f"ratio sized / default: {sized_s / default_s:.2f}")


if __name__ == "__main__":
    main()
