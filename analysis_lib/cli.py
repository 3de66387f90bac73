"""Command line: ``python -m analysis_lib {simulate,run,stages,inspect}``.

Errors in the user's input (files, parameters, datasets) end the command with
one sentence on stderr and exit status 2; a failed pipeline stage exits 1.
"""

import argparse
import math
import os
import signal
import sys
import threading
from pathlib import Path

from .errors import AnalysisError


def _check_simulation_request(args):
    """Everything of a ``simulate`` command that can be checked before the work starts."""
    from .detectors import DETECTORS
    from .errors import ParameterError
    from .io import check_replaceable, format_from_suffix
    from .ranges import check_range

    detector = DETECTORS[args.detector]
    if args.particle not in detector.particles:
        raise ParameterError(f"unknown particle {args.particle!r} for {args.detector}; "
                             f"choose one of {', '.join(detector.particles)}")
    takes = detector.options  # each detector's own defaults apply when an option is not given
    for option, value in (("energy", args.energy), ("mass", args.mass), ("process", args.process)):
        if value is not None and option not in takes:
            users = [name for name, detector in DETECTORS.items() if option in detector.options]
            raise ParameterError(f"{args.detector} takes no --{option} (only {' and '.join(users)} do)")
    check_range("seed", args.seed, "--seed")
    if args.energy is not None:
        if len(args.energy) not in (1, 2):
            raise ParameterError("--energy takes one value (a fixed energy) or two (a range LOW HIGH)")
        check_range("energy_range_gev", list(args.energy) * 2 if len(args.energy) == 1 else list(args.energy),
                    "--energy")
    if args.mass is not None and not (math.isfinite(args.mass) and args.mass > 0):
        raise ParameterError(f"--mass must be a finite mass above 0 GeV, got {args.mass}")
    if args.scheduler == "local" and args.workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {args.workers}")
    outs = [Path(p) for p in args.out]
    repeated = {p for p in outs if outs.count(p) > 1}
    if repeated:
        raise ParameterError(f"--out {sorted(repeated)[0]} is given twice")
    if args.detector == "ldmx-ecal" and len(outs) > 1:
        raise ParameterError("ldmx-ecal writes its hits to one ROOT file: give one --out")
    for out in outs:
        check_replaceable(out)
        format_from_suffix(out)


def _simulate(args):
    from .detectors import DETECTORS
    from .simulation import simulate_to_files

    _check_simulation_request(args)
    options = {} if args.mass is None else {"mass_gev": args.mass}
    if args.energy:
        options["energy_range_gev"] = (args.energy[0], args.energy[-1])
    if args.process:
        options["process"] = args.process
    if args.scheduler:
        from .dask_workers import connect, ordered_map

        with connect(args.scheduler, args.workers) as client:
            paths = simulate_to_files(DETECTORS[args.detector], args.particle, args.events, args.out, seed=args.seed,
                                      progress=not args.quiet, mapper=ordered_map(client), **options)
    else:
        paths = simulate_to_files(DETECTORS[args.detector], args.particle, args.events, args.out, seed=args.seed,
                                  progress=not args.quiet, **options)
    for path in paths:
        print(f"wrote {path}")
    return 0


def _run(args):
    from .pipeline import (Pipeline, default_root, load_stages, parse_overrides, results_table, select, summary_table,
                           sweep)

    stage_file = Path(args.stages).resolve() if args.stages else default_root() / "stages.yml"
    root = stage_file.parent  # notebook paths in the stage list are relative to it
    grid = {name: values if isinstance(values, list) else [values]
            for name, values in parse_overrides(args.sweep).items()}
    stages = sweep(select(load_stages(stage_file), args.only, args.profile), grid)
    pipeline = Pipeline(stages, profile=args.profile, root=root, data_dir=args.data_dir, book_dir=args.book_dir,
                        jobs=args.jobs, overrides=parse_overrides(args.parameter), force=args.force,
                        scheduler=args.scheduler, scale=args.scale)
    results = pipeline.run()
    print(summary_table(results))
    if args.table:
        from .io import save_table

        print(f"wrote {save_table(results_table(results).reset_index(), args.table)}")
    failed = [r for r in results if r.status == "failed"]
    for result in failed:
        print(f"error: stage {result.stage} failed: {result.message}", file=sys.stderr)
    return 1 if failed or any(r.status == "blocked" for r in results) else 0


def _stages(args):
    from .pipeline import dependencies, default_root, load_stages
    from .stage_list import check_profile, in_profile

    check_profile(args.profile)
    stages = load_stages(args.stages or default_root() / "stages.yml")
    # what a stage waits for in this profile (the results page: only the headlines of the stages it runs)
    deps = {**dependencies(stages), **dependencies(in_profile(stages, args.profile))}
    for stage in stages:
        params = stage.resolved_parameters(args.profile, "{data}")
        after = f"  (after {', '.join(sorted(deps[stage.id]))})" if deps[stage.id] else ""
        if args.profile not in stage.profiles:  # its page in this profile's book names the profiles that run it
            makers = " and ".join(stage.profiles) + (" runs" if len(stage.profiles) == 1 else " run")
            after += f"  (not run by the {args.profile} profile; {makers} it)"
        print(f"{stage.id}{after}\n    {stage.notebook.name}: {params}")
    return 0


def _inspect(args):
    from .detectors import DETECTORS, LdmxEcal, ShashlikEcal

    path = Path(args.file)
    if path.suffix in (".keras", ".onnx"):
        return _inspect_model(path)
    detector = DETECTORS[args.detector]
    if isinstance(detector, LdmxEcal):
        from .studies.ldmx import hit_summary
        from .io import find_hits

        layout = find_hits(path, args.hits)
        summary = hit_summary(path, layout, args.negative_cells)
        print(f"{path}: {summary.events} events, {summary.hits} hits, read as {layout}")
        for sentence in summary.sentences():
            print(f"  note: {sentence}")
        return 0
    from .io import read_showers

    sample = read_showers(path, detector=detector, negative_cells=args.negative_cells, tree=args.tree)
    energies = sample.layer_energy_gev()
    print(f"{path}: {len(sample)} events, particle {sample.attrs.get('particle', '?')}")
    for i, layer in enumerate(sample.layers):
        print(f"  layer_{i}: cells {layer.shape[1:]}, mean energy {energies[:, i].mean():.3f} GeV")
    print(f"  truth: {', '.join(sample.truth) or 'none'}")
    if isinstance(detector, ShashlikEcal):  # its chapters measure against the photons' truth
        import numpy as np

        from .studies.shashlik import photon_truth

        x = np.asarray(sample.truth.get("photon_x_mm", np.zeros(0)))
        photons = photon_truth(sample, n_photons=x.shape[1] if x.ndim == 2 else 1)
        print(f"  photons per event: {photons.shape[1]}")
    return 0


def _inspect_model(path):
    if path.is_file():
        import keras  # noqa: F401 - before onnxruntime; its start-up lines are dropped (tensorflow_startup)
    if path.suffix == ".onnx":
        from .io import OnnxModel

        model = OnnxModel(path)
        print(f"{path}: ONNX model, inputs {', '.join(model.input_names)}")
        return 0
    from .io import load_model

    model = load_model(path)
    shapes = ", ".join(f"{i.name} {tuple(i.shape[1:])}" for i in model.inputs)
    print(f"{path}: Keras model '{model.name}', {model.count_params():,} weights, inputs {shapes}")
    return 0


def build_parser():
    from .detectors import DETECTORS
    from .ranges import NEGATIVE_CELLS

    parser = argparse.ArgumentParser(prog="python -m analysis_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate a detector and write HDF5 and/or ROOT files")
    sim.add_argument("detector", choices=sorted(DETECTORS))
    sim.add_argument("--particle", required=True,
                     help="; ".join(f"{name}: {', '.join(d.particles)}" for name, d in DETECTORS.items()))
    sim.add_argument("--events", type=int, required=True)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", action="append", required=True, help="output file (.h5 or .root); repeat for both")
    sim.add_argument("--energy", type=float, nargs="+", metavar="GEV",
                     help="atlas-ecal, shashlik: fixed energy, or a range LOW HIGH (default 40 250; shashlik 2 200)")
    sim.add_argument("--mass", type=float, help="signal mass in GeV (default 1; ldmx-ecal: the A' mass, default 0.1)")
    sim.add_argument("--process", help="photon-id: photon_jet (default) or radiative_z")
    sim.add_argument("--scheduler", help="run the random streams on Dask: 'local' (a local cluster) or a scheduler "
                                         "address such as tcp://host:8786; the files are the same as without")
    sim.add_argument("--workers", type=int, default=2, help="workers of a local Dask cluster (default 2)")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_simulate)

    run = sub.add_parser("run", help="run the book's notebooks with papermill")
    run.add_argument("--profile", default="book", help="smoke, book (default) or full")
    run.add_argument("--only", action="append", metavar="STUDY[/STAGE]", help="run only these (and what they need)")
    run.add_argument("--jobs", type=int, default=1, help="stages run in parallel (default 1)")
    run.add_argument("-p", "--parameter", action="append", metavar="NAME=VALUE", help="override a notebook parameter")
    run.add_argument("--force", action="store_true", help="run even the stages that are up to date")
    run.add_argument("--sweep", action="append", metavar="NAME=[V1,V2,...]",
                     help="run the stages declaring NAME once per value (repeat for a grid), side by side")
    run.add_argument("--table", metavar="CSV", help="write the stages' status, time and recorded values as a CSV table")
    run.add_argument("--scheduler", help="run the stages on Dask workers: 'local' (a local cluster of --jobs "
                                         "workers) or a scheduler address; workers must see the same disk")
    run.add_argument("--scale", type=float, default=1.0,
                     help="multiply the profile's event counts and epochs by this (0 < SCALE <= 1, never below the "
                          "smoke profile's): e.g. --profile full --scale 0.01 takes the full profile's paths on a "
                          "laptop")
    run.add_argument("--data-dir", help="data folder (default data/PROFILE, data/PROFILE-scaled-SCALE when scaled)")
    run.add_argument("--book-dir", help="folder for the executed notebooks (default book)")
    run.add_argument("--stages", help="stage list (default stages.yml)")
    run.set_defaults(func=_run)

    stages = sub.add_parser("stages", help="list the stages, their order and parameters")
    stages.add_argument("--profile", default="book")
    stages.add_argument("--stages")
    stages.set_defaults(func=_stages)

    inspect = sub.add_parser("inspect", help="validate a data file (or a .keras / .onnx model) and summarise it")
    inspect.add_argument("file")
    inspect.add_argument("--detector", choices=sorted(DETECTORS), default="atlas-ecal",
                         help="the geometry the file must have (default atlas-ecal)")
    inspect.add_argument("--negative-cells", choices=NEGATIVE_CELLS, default="keep",
                         help="cells below zero (noise-subtracted read-outs): keep (default), clip to 0, or refuse")
    inspect.add_argument("--tree", help="ROOT: the tree holding the layers, when several do (path in the file)")
    inspect.add_argument("--hits", help="ldmx-ecal: hits as 'TREE:X,Y,Z,E' (':calibrated' for sampling-corrected "
                                        "energies), when the file's layout is not recognised")
    inspect.set_defaults(func=_inspect)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log lines are not for the user
    args = build_parser().parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM acts as Ctrl-C; and Ctrl-C itself is set too: a command started with & from a
    # script inherits SIGINT ignored, where `kill -INT` would otherwise do nothing
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, _interrupt) for stop in stops} if on_main_thread else {}
    try:
        return args.func(args)
    except AnalysisError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left; the same command resumes", file=sys.stderr)
        return 130
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
