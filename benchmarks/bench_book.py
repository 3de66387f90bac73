"""Wall time of building the whole book: ``make book`` from nothing, then again with nothing changed.

A fresh clone of this repository (committed files only) in a temporary folder is built
twice with the README's command; the second run should skip every notebook (content
hashes) and only re-render the HTML. Prints the machine (processor model, cores this
process may use), both times, their ratio, the sum of the notebooks' own run times (the
stages' papermill seconds, which the book profile keeps within an hour) and the slowest
stages of the first run: the figures the README quotes, measured, never normalised.

Usage: python benchmarks/bench_book.py [--profile book|smoke] [--jobs 2] [--keep]
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def processor():
    """The processor's model name as the kernel reports it (Linux), else the platform's word."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed_make(folder, profile, jobs):
    start = time.perf_counter()
    result = subprocess.run(["make", "book", f"PROFILE={profile}", f"JOBS={jobs}"], cwd=folder, capture_output=True,
                            text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"make book failed after {seconds:.0f} s:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="book")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the clone (its _build/html) after the run")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_book_"))
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder / "book")], check=True)
        clone = folder / "book"
        first, log = timed_make(clone, args.profile, args.jobs)
        second, _ = timed_make(clone, args.profile, args.jobs)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"machine: {processor()}, {cores} cores")
        print(f"make book ({args.profile} profile, {args.jobs} jobs) from nothing: {first / 60:.1f} min "
              f"(install, simulate, every notebook, HTML)")
        print(f"make book again, nothing changed:            {second:.0f} s")
        print(f"ratio second / first: {second / first:.3f}")
        stages = sorted(((float(t), s) for s, t in re.findall(r"^(\S+)\s+ran\s+([\d.]+)s", log, flags=re.M)),
                        reverse=True)
        print(f"the notebooks' own run times add up to {sum(t for t, _ in stages):.0f} s")
        print("slowest stages: " + ", ".join(f"{s} {t:.0f} s" for t, s in stages[:8]))
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
