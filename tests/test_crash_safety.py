"""A run killed outright (SIGKILL) leaves no half-written file, and running it again resumes."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from analysis_lib.io import read_showers
from analysis_lib.pipeline import Pipeline, load_stages
from tests.test_pipeline import _notebook


def _wait_for(condition, process, seconds=180):
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (status {process.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the process never reached the point where it is killed")
        time.sleep(0.05)


def _kill_group(process):
    os.killpg(process.pid, signal.SIGKILL)  # the process and its children (a notebook kernel), no clean-up
    process.wait()


def _run_command(project):
    """The pipeline on a project's own stage list, as a user types it."""
    return [sys.executable, "-m", "analysis_lib", "run", "--stages", str(project / "stages.yml"), "--profile",
            "smoke", "--data-dir", str(project / "data"), "--book-dir", str(project / "book")]


def _simulate(out, events):
    return [sys.executable, "-m", "analysis_lib", "simulate", "atlas-ecal", "--particle", "gamma", "--events",
            str(events), "--seed", "3", "--out", str(out), "--quiet"]


def test_killed_simulation_leaves_no_file_and_the_rerun_completes(tmp_path):
    out = tmp_path / "gamma.h5"
    process = subprocess.Popen(_simulate(out, 200_000), start_new_session=True)
    _wait_for(lambda: list(tmp_path.glob(".gamma.partial-*.h5")), process)
    time.sleep(1.0)  # a few chunks into the file
    _kill_group(process)
    assert not out.exists()
    assert list(tmp_path.glob(".gamma.partial-*.h5"))  # nobody could clean up after SIGKILL ...

    subprocess.run(_simulate(out, 1500), check=True)
    assert not list(tmp_path.glob(".gamma.partial-*"))  # ... until the next writer of the same file
    sample = read_showers(out)
    assert len(sample) == 1500
    # the same seed gives the same events as a run never interrupted
    subprocess.run(_simulate(tmp_path / "again.h5", 1500), check=True)
    np.testing.assert_array_equal(read_showers(tmp_path / "again.h5").layers[2], sample.layers[2])


def test_killed_pipeline_resumes_after_the_last_finished_stage(tmp_path):
    _notebook(tmp_path / "notebooks/s/first.ipynb", 'out = "a.txt"\n', """
        from pathlib import Path
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("first")
    """)
    _notebook(tmp_path / "notebooks/s/second.ipynb",
              'src = "a.txt"\nstarted = "s.txt"\nout = "b.txt"\nseconds = 120\n', """
        import time
        from pathlib import Path
        Path(started).write_text("started")
        time.sleep(seconds)
        Path(out).write_text(Path(src).read_text() + " second")
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/first
            notebook: notebooks/s/first.ipynb
            writes: ["{data}/a.txt"]
            parameters:
              all: {out: "{data}/a.txt"}
          - id: s/second
            notebook: notebooks/s/second.ipynb
            reads: ["{data}/a.txt"]
            writes: ["{data}/b.txt"]
            parameters:
              all: {src: "{data}/a.txt", started: "{data}/started.txt", out: "{data}/b.txt"}
    """))
    command = _run_command(tmp_path)
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: (tmp_path / "data/started.txt").exists(), process)
    _kill_group(process)
    assert (tmp_path / "book/s/first.ipynb").exists()
    assert not (tmp_path / "book/s/second.ipynb").exists() and not (tmp_path / "data/b.txt").exists()

    pipeline = Pipeline(load_stages(tmp_path / "stages.yml"), profile="smoke", root=tmp_path,
                        data_dir=tmp_path / "data", book_dir=tmp_path / "book", overrides={"seconds": 0},
                        log=lambda message: None)
    assert {r.stage: r.status for r in pipeline.run()} == {"s/first": "skipped", "s/second": "ran"}
    assert (tmp_path / "data/b.txt").read_text() == "first second"
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_the_running_notebook_at_once_and_leaves_nothing_behind(tmp_path, stop):
    """The running kernel is interrupted (its own session does not get the terminal's
    Ctrl-C), its half-written output is removed, the command exits with status 130 within
    seconds and says so, and the stage is not current afterwards."""
    _notebook(tmp_path / "notebooks/s/slow.ipynb", 'out = "a.h5"\nstarted = "s.txt"\n', """
        import time
        from pathlib import Path
        from analysis_lib.io import atomic_output
        with atomic_output(Path(out)) as tmp:
            tmp.write_bytes(b"half of a file")
            Path(started).write_text("started")
            for _ in range(1200):
                time.sleep(0.1)
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/slow
            notebook: notebooks/s/slow.ipynb
            writes: ["{data}/out/a.h5"]
            parameters:
              all: {out: "{data}/out/a.h5", started: "{data}/started.txt"}
    """))
    command = _run_command(tmp_path)
    # started as a job with & from a script is: SIGINT ignored, which Python then keeps
    # ignoring; whether pytest itself runs in the background must not decide this test
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for(lambda: (tmp_path / "data/started.txt").exists(), process)
    assert list((tmp_path / "data/out").glob(".a.partial-*.h5"))
    kernels = [p for p in psutil.Process(process.pid).children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert kernels
    signalled = time.monotonic()
    process.send_signal(stop)
    _, error = process.communicate(timeout=60)
    assert time.monotonic() - signalled < 30  # the notebook had two minutes left
    assert process.returncode == 130 and "interrupted" in error and "Traceback" not in error
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]
    assert not (tmp_path / "data/out/a.h5").exists() and not list((tmp_path / "book").rglob("*.json"))
    assert not [k for k in kernels if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]


def test_ctrl_c_with_stages_queued_starts_none_of_them_and_stops_within_seconds(tmp_path):
    """Four independent stages, one at a time: they are all queued at the start. Before,
    the queued ones started and ran to the end after Ctrl-C (53 s on the smoke profile)."""
    _notebook(tmp_path / "notebooks/s/slow.ipynb", 'started = "s.txt"\n', """
        import time
        from pathlib import Path
        Path(started).write_text("started")
        for _ in range(600):
            time.sleep(0.1)
    """)
    entries = "".join(f"""
          - id: s/slow/{i}
            notebook: notebooks/s/slow.ipynb
            parameters:
              all: {{started: "{{data}}/started_{i}.txt"}}""" for i in range(4))
    (tmp_path / "stages.yml").write_text("stages:" + textwrap.dedent(entries) + "\n")
    process = subprocess.Popen(_run_command(tmp_path) + ["--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for(lambda: list((tmp_path / "data").glob("started_*.txt")), process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, error = process.communicate(timeout=60)
    stopped_after_s = time.monotonic() - signalled
    assert process.returncode == 130, error
    assert stopped_after_s < 8, f"stopped {stopped_after_s:.1f} s after Ctrl-C"
    assert len(list((tmp_path / "data").glob("started_*.txt"))) == 1, "a queued stage started after Ctrl-C"
    assert "[running]" in output and output.count("[running]") == 1


def test_a_second_run_on_the_same_folders_is_refused_naming_the_run_that_holds_them(tmp_path):
    """Two runs on one data folder stamped each other's results current (a 400-event
    residual file marked current for 800 events)."""
    _notebook(tmp_path / "notebooks/s/slow.ipynb", 'started = "s.txt"\n', """
        import time
        from pathlib import Path
        Path(started).write_text("started")
        time.sleep(60)
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/slow
            notebook: notebooks/s/slow.ipynb
            parameters:
              all: {started: "{data}/started.txt"}
    """))
    first = subprocess.Popen(_run_command(tmp_path), start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (tmp_path / "data/started.txt").exists(), first)
        second = subprocess.run(_run_command(tmp_path) + ["--force"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"is in use by run {first.pid} (`" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        _kill_group(first)


def test_a_stage_whose_input_changes_while_it_runs_is_not_stamped_current(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "numbers.txt").write_text("1 2 3")
    _notebook(tmp_path / "notebooks/s/sum.ipynb", 'src = "numbers.txt"\ndst = "sum.txt"\n', """
        from pathlib import Path
        total = sum(int(v) for v in Path(src).read_text().split())
        Path(src).write_text("4 5 6")  # what another program does to the user's file meanwhile
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        Path(dst).write_text(str(total))
    """)
    (tmp_path / "stages.yml").write_text(textwrap.dedent("""
        stages:
          - id: s/sum
            notebook: notebooks/s/sum.ipynb
            writes: ["{data}/sum.txt"]
            parameters:
              all: {dst: "{data}/sum.txt"}
    """))
    said = []

    def run():
        return Pipeline(load_stages(tmp_path / "stages.yml"), profile="smoke", root=tmp_path,
                        data_dir=tmp_path / "data", book_dir=tmp_path / "book",
                        overrides={"src": str(mine / "numbers.txt")}, log=said.append).run()[0].status

    assert run() == "ran"
    assert any(line.startswith("[changed] s/sum") for line in said)
    assert run() == "ran"  # the result of the old numbers was never current
