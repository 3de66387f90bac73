"""Peak memory of every stage of the ``full`` profile, extrapolated from two reduced runs.

The ``full`` profile runs twice at reduced size (``run --profile full --scale S``, by
default S = 0.01 and 0.05) into temporary folders, and each stage's kernel reports its
peak resident memory (``peak_memory_gib``). A stage holds its samples in memory whole,
so its peak grows linearly with the events it reads: peak(S) = a + b S, where a is the
kernel with its libraries (TensorFlow alone is most of a GiB) and b the data. The line
through the two runs, taken to S = 1, is the full profile's peak; the table prints it
beside the budget (24 GiB, the memory of the machine the full profile is sized for) and
the ratio of the two. Epoch counts, also scaled, do not change a stage's memory.

Usage: python benchmarks/bench_full_memory.py [--scales 0.01 0.05] [--only photon_jets ...] [--jobs 2] [--csv F]
"""

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_GIB = 24.0


def peak_memory(scale, only, jobs, folder):
    """{stage id: peak GiB} of one reduced full-profile run."""
    from analysis_lib.pipeline import Pipeline, load_stages, select

    stages = select(load_stages(ROOT / "stages.yml"), only)
    pipeline = Pipeline(stages, profile="full", root=ROOT, data_dir=folder / "data", book_dir=folder / "book",
                        jobs=jobs, scale=scale, log=lambda message: print(f"  scale {scale:g}: {message}", flush=True))
    results = pipeline.run()
    failed = [f"{r.stage}: {r.message}" for r in results if r.status not in ("ran", "skipped")]
    if failed:
        raise SystemExit("the reduced full run failed:\n" + "\n".join(failed))
    return {r.stage: r.record.get("peak_memory_gib") for r in results}


def main():
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs=2, default=[0.01, 0.05])
    parser.add_argument("--only", action="append", help="studies or stages (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args()
    low, high = sorted(args.scales)
    with tempfile.TemporaryDirectory(prefix="bench_full_memory_") as tmp:
        runs = {s: peak_memory(s, args.only, args.jobs, Path(tmp) / f"scale-{s:g}") for s in (low, high)}
    table = pd.DataFrame({f"peak at {low:g} [GiB]": runs[low], f"peak at {high:g} [GiB]": runs[high]})
    slope = (table.iloc[:, 1] - table.iloc[:, 0]) / (high - low)
    # a peak that falls with more data is noise in the kernel's own footprint: no growth
    table["full profile, extrapolated [GiB]"] = table.iloc[:, 1] + slope.clip(lower=0) * (1 - high)
    table["of the 24 GiB budget"] = table["full profile, extrapolated [GiB]"] / BUDGET_GIB
    table = table.round(2).sort_values("full profile, extrapolated [GiB]", ascending=False)
    print(table.to_string())
    largest = table.iloc[0]
    print(f"\nlargest: {table.index[0]}, {largest.iloc[2]:.1f} GiB at full size, "
          f"{largest.iloc[3]:.0%} of {BUDGET_GIB:g} GiB")
    if args.csv:
        table.reset_index(names="stage").to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
