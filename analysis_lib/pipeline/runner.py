"""``Pipeline`` runs a selection of stages for one profile: in dependency order,
independent ones in parallel (threads here, or Dask workers on a shared disk).

A stage is skipped when its hash (``hashing.stage_hash``) is the one recorded before
its last successful run and its outputs still exist: those declared, and every file it
was seen to write (``Pipeline.written_files``). The record (a stamp) is removed when a
stage starts and written atomically once all its outputs exist, so a stage stopped
half-way is never current. A run holds its data and book folders (a file lock): a
second run on them is refused in one sentence naming the first. A failing stage stops
only the stages that depend on it; the run goes on with the rest and exits non-zero.
Ctrl-C (or SIGTERM) starts no queued stage and interrupts the running kernels at once.
Every stage's kernel reports its peak memory from a last cell the pipeline appends
(hidden in the book's page).

Contents: ``PROGRESS_EVERY_S``, ``TRANSIENT_KERNEL_ERRORS``, ``StageResult``,
``Pipeline``, ``kernel_thread_settings``, ``results_table``, ``summary_table``.
"""

import contextlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import nbformat
import pandas as pd
import psutil

from ..book_pages import claims_note, finish_page, page_of_another_profile, profile_of_page
from ..errors import AnalysisError, ParameterError, PipelineError
from ..io import atomic_output, remove_stale_partials_under
from ..reporting import PEAK_MEMORY_CELL, read_claims, read_records
from ..stage_list import book_page, default_root, dependencies, with_stage_list
from .hashing import HashingStopped, _visible_files, stage_hash
from .parameters import check_parameters

#: The longest a running stage goes without a line on the terminal.
PROGRESS_EVERY_S = 30
#: Messages of kernel start-up races that papermill hits with parallel kernels; retried once.
TRANSIENT_KERNEL_ERRORS = ("Address already in use", "Kernel didn't respond", "Kernel died before replying")


@dataclass
class StageResult:
    stage: str
    status: str  # ran, skipped, failed, blocked
    seconds: float = 0.0
    message: str = ""
    record: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)  # {claim: whether it held on this run}

    @property
    def claims_not_held(self):
        return [name for name, holds in self.claims.items() if not holds]


class Pipeline:
    """Runs a selection of stages for one profile into ``book_dir``."""

    def __init__(self, stages, profile="book", root=None, data_dir=None, book_dir=None, state_dir=None,
                 jobs=1, overrides=None, force=False, log=print, scheduler=None, scale=1):
        self.root = Path(root or default_root()).resolve()
        self.stages, self.profile, self.scale = stages, profile, scale
        # a scaled run is a profile of its own: its own data and records, and its pages say so
        self.label = profile if scale == 1 else f"{profile}-scaled-{scale:g}"
        self.data_dir = Path(data_dir or self.root / "data" / self.label).resolve()
        self.book_dir = Path(book_dir or self.root / "book").resolve()
        self.state_dir = Path(state_dir or self.book_dir / ".pipeline" / self.label).resolve()
        if not isinstance(jobs, int) or jobs < 1:
            raise ParameterError(f"--jobs must be at least 1, got {jobs}")
        self.jobs, self.force, self.log = jobs, force, log
        self.scheduler = scheduler  # None: threads here; "local" or an address: Dask workers (shared disk)
        listed = with_stage_list(stages, self.root)  # the whole list, read once: matrix values, every output
        self.parameters = check_parameters(stages, profile, overrides or {}, self.data_dir, scale, self.root, listed)
        folders = (("data", self.data_dir), ("book", self.book_dir))
        for name, folder in folders:  # both checked before either is made
            if folder.exists() and not folder.is_dir():
                raise ParameterError(f"the {name} folder {folder} is a file")
            if folder.is_dir() and not os.access(folder, os.W_OK):
                raise ParameterError(f"the {name} folder {folder} is not writable")
        made = []  # the folders this run creates, deepest first: removed again if the next cannot be made
        for name, folder in folders:
            new = [p for p in (folder, *folder.parents) if not p.exists()]
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                for empty in made:
                    with contextlib.suppress(OSError):
                        empty.rmdir()
                raise ParameterError(f"cannot create the {name} folder {folder}: {error.strerror or error}") from None
            made += new
        self._made_folders = made  # removed again if the run is refused its lock
        self._stopping = threading.Event()  # set by Ctrl-C: no stage starts after it
        self._counting = threading.Lock()
        self._finished = 0
        self._cells = {}  # stage id -> (cell index, cells, when the stage started): the progress lines
        self.deps = {sid: d & {s.id for s in stages} for sid, d in dependencies(stages, self.data_dir).items()}
        # every output of the whole stage list: what a stage's hash leaves out of a folder it is handed
        self.outputs = sorted({w for s in listed for w in s.paths("writes", self.data_dir)}, key=str)

    def __getstate__(self):  # a Dask worker gets the pipeline without the run's stop event and lock
        return {k: v for k, v in self.__dict__.items() if k not in ("_stopping", "_counting")}

    def __setstate__(self, state):
        self.__dict__.update(state, _stopping=threading.Event(), _counting=threading.Lock())

    def _ended(self):
        """``[k/N]``: how many of the run's stages have ended, this one included."""
        with self._counting:
            self._finished += 1
            return f"[{self._finished}/{len(self.stages)}]"

    def output_notebook(self, stage):
        return self.book_dir / book_page(stage, self.root)

    def _stamp(self, stage):
        return self.state_dir / (stage.id.replace("/", "__") + ".json")

    def is_current(self, stage, digest):
        """Whether the stage's stamp holds ``digest`` and every file it wrote last time
        (``written_files``) is still there with its size."""
        stamp = self._stamp(stage)
        if self.force or not stamp.is_file() or not self.output_notebook(stage).exists():
            return False
        if any(not p.exists() for p in stage.paths("writes", self.data_dir)):
            return False
        try:
            record = json.loads(stamp.read_text())
            written = record.get("outputs", {})
            return record.get("hash") == digest and all(
                (self.data_dir / name).is_file() and (self.data_dir / name).stat().st_size == size
                for name, size in written.items())
        except (OSError, ValueError, AttributeError):  # unreadable, cut short or not a record: not current
            return False

    def written_files(self, stage, since_ns):
        """{path below the data folder: size} of the files the stage wrote since
        ``since_ns``: everything in its ``writes`` folders, and the files beside a
        declared file (a stage lists one of its ROOT files and writes its siblings)."""
        found = set()
        for path in stage.paths("writes", self.data_dir):
            if path.is_dir():
                found.update(_visible_files(path))
            elif path.parent.is_dir():
                found.update(_visible_files(path.parent, recursive=False))
        data = self.data_dir.resolve()
        return {str(f.resolve().relative_to(data)): f.stat().st_size for f in sorted(found)
                if f.stat().st_mtime_ns >= since_ns and data in f.resolve().parents}

    def run(self):
        """Run everything; returns the list of StageResult in stage order."""
        results, running = {}, {}
        for stage in self.stages:  # else found only once the stage has run, when its record cannot be written
            if self._stamp(stage).is_dir():
                raise PipelineError(f"{self._stamp(stage)} is a folder where the run keeps its record of "
                                    f"{stage.id}; remove it and run again")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # kernels inherit it: no C++ log lines on the terminal
        os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would print as text blocks in the book's pages
        with contextlib.ExitStack() as stack:
            try:
                for folder in dict.fromkeys((self.data_dir, self.book_dir)):
                    stack.enter_context(_folder_lock(folder))
            except PipelineError:  # refused: a folder this run made is left as it was found, absent
                stack.close()
                for made in self._made_folders:  # deepest first
                    for lock_file in (made / ".pipeline.lock", made / ".pipeline.lock.owner"):
                        with contextlib.suppress(OSError):
                            lock_file.unlink()
                    with contextlib.suppress(OSError):
                        made.rmdir()
                raise
            # papermill changes the process's folder for each notebook; from threads the restores can interleave
            stack.callback(os.chdir, os.getcwd())
            if self.scheduler:
                from ..dask_workers import connect

                pool = stack.enter_context(connect(self.scheduler, n_workers=self.jobs)).get_executor(pure=False)
            else:
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=self.jobs))
            try:
                self._schedule(pool, results, running)
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the command line
                self._stopping.set()  # a stage whose thread starts from now on returns at once
                for future in running.values():
                    future.cancel()  # queued stages never start (a running one cannot be cancelled)
                self.log(f"[stopping] interrupted: stopping {', '.join(sorted(running)) or 'nothing running'}")
                self._stop_kernels(running)
                raise
        self._pages_of_other_profiles()
        ordered = [results[s.id] for s in self.stages]
        for stage, result in zip(self.stages, ordered):
            if result.status == "skipped":  # a stage that ran has its record already
                result.record = read_records(self.output_notebook(stage))
                result.claims = read_claims(self.output_notebook(stage))
        return ordered

    def _pages_of_other_profiles(self):
        """A page for each matrix value this profile leaves out (the table of contents lists
        them all), unless the book has the page that the ``full`` profile made: it names its
        profile. A ``smoke`` page, seconds of statistics, is not left in a book of another profile."""
        for stage in with_stage_list([], self.root):
            page = self.output_notebook(stage)
            if self.profile in stage.profiles or (page.exists() and profile_of_page(page) == "full"):
                continue
            with atomic_output(page) as tmp:
                page_of_another_profile(stage, self.profile, tmp)

    def _schedule(self, pool, results, running):
        said_at = time.monotonic()
        while len(results) < len(self.stages):
            for stage in self.stages:
                if stage.id in results or stage.id in running:
                    continue
                deps = self.deps[stage.id]
                bad = [d for d in deps if d in results and results[d].status in ("failed", "blocked")]
                if bad:
                    results[stage.id] = StageResult(stage.id, "blocked",
                                                    message=f"needs {bad[0]}, which did not finish")
                    self.log(f"[blocked] {self._ended()} {stage.id}: needs {bad[0]}, which did not finish")
                elif all(d in results for d in deps):
                    running[stage.id] = pool.submit(self._run_stage, stage)
            if not running:
                continue
            # with a timeout: the main thread runs signal handlers (Ctrl-C) only when it wakes,
            # and a stage may run for hours
            finished, _ = wait(running.values(), timeout=0.5, return_when=FIRST_COMPLETED)
            if time.monotonic() - said_at > PROGRESS_EVERY_S:
                said_at = time.monotonic()
                for sid in sorted(running):
                    if sid in self._cells or self.scheduler:  # started (a queued one is not working)
                        self.log(f"[working] {sid}: {self._progress(sid)}")
            for sid, future in list(running.items()):
                if future in finished:
                    results[sid] = future.result()
                    del running[sid]

    def _progress(self, stage_id):
        if stage_id not in self._cells:  # its kernel is driven by a Dask worker
            return "on a Dask worker"
        cell, cells, since = self._cells[stage_id]
        minutes, seconds = divmod(int(time.monotonic() - since), 60)
        return f"cell {cell + 1} of {cells}, {minutes} min {seconds:02d} s so far"

    def _stop_kernels(self, running, grace_s=10.0):
        """Interrupt the running notebooks' kernels (their cells get KeyboardInterrupt, so
        their atomic writes clean up and papermill shuts each kernel down), kill any still
        alive after ``grace_s``, and remove what a killed kernel left half-written in its
        stage's output folders."""
        def kernels():
            return [p for p in psutil.Process().children(recursive=True) if "ipykernel_launcher" in _cmdline(p)]

        for kernel in kernels():
            with contextlib.suppress(psutil.Error):
                kernel.send_signal(signal.SIGINT)
        wait([f for f in running.values() if not f.cancelled()], timeout=grace_s)  # the stages' threads end
        left = kernels()  # those that did not stop, and one a stage started in the meantime
        for kernel in left:
            with contextlib.suppress(psutil.Error):
                kernel.kill()
        psutil.wait_procs(left, timeout=grace_s)
        for stage in self.stages:
            if stage.id not in running:
                continue
            for path in stage.paths("writes", self.data_dir):
                remove_stale_partials_under(path if path.is_dir() else path.parent)

    def _run_stage(self, stage):
        # a file's time stamp comes from the kernel's coarser clock, up to a tick before this one
        start, started_ns = time.perf_counter(), time.time_ns() - 1_000_000_000
        interrupted = StageResult(stage.id, "blocked", message="the run was interrupted before it started")
        if self._stopping.is_set():  # queued before Ctrl-C, on a thread that started after it
            return interrupted
        params = self.parameters[stage.id]
        try:
            digest = stage_hash(stage, params, self.data_dir, self.root, self.outputs, self._stopping)
        except HashingStopped:
            return interrupted
        except AnalysisError as error:
            self.log(f"[failed]  {self._ended()} {stage.id}: {error}")
            return StageResult(stage.id, "failed", time.perf_counter() - start, str(error))
        if self._stopping.is_set():  # Ctrl-C while it hashed: no kernel starts
            return interrupted
        if self.is_current(stage, digest):
            self.log(f"[skipped] {self._ended()} {stage.id}: unchanged")
            return StageResult(stage.id, "skipped")
        self.log(f"[running] {stage.id} ({self._shown(stage.notebook)})")
        self._stamp(stage).unlink(missing_ok=True)  # from here on, until all outputs exist, nothing is current
        for attempt in (1, 2):
            try:
                self._execute(stage, params)
                break
            except Exception as error:  # noqa: BLE001 - reported, never swallowed
                if self._stopping.is_set():
                    return StageResult(stage.id, "failed", time.perf_counter() - start, "interrupted")
                if attempt == 1 and any(m in str(error) for m in TRANSIENT_KERNEL_ERRORS):
                    self.log(f"[retry]   {stage.id}: kernel did not start ({str(error)[:80]}), trying once more")
                    continue
                message = self._describe_failure(stage, error)
                self.log(f"[failed]  {self._ended()} {stage.id}: {message}")
                return StageResult(stage.id, "failed", time.perf_counter() - start, message)
        missing = [p for p in stage.paths("writes", self.data_dir) if not p.exists()]
        if missing:
            message = f"{self._shown(stage.notebook)} ran but did not write {missing[0]}"
            self.log(f"[failed]  {self._ended()} {stage.id}: {message}")
            return StageResult(stage.id, "failed", time.perf_counter() - start, message)
        seconds = time.perf_counter() - start
        # The stamp holds the hash of what the stage read, taken before it ran; if that changed while it ran
        # (a file replaced, the library edited), its result is of neither version: no stamp, it runs again.
        try:
            after = stage_hash(stage, params, self.data_dir, self.root, self.outputs)
        except AnalysisError:  # an input gone while it ran: not current
            after = None
        if after != digest:
            self.log(f"[changed] {stage.id}: its inputs changed while it ran; it is not current and runs next time")
        else:
            with atomic_output(self._stamp(stage)) as tmp:  # last, whole or not at all
                tmp.write_text(json.dumps({"hash": digest, "parameters": params,
                                           "outputs": self.written_files(stage, started_ns)}, default=str))
        record = read_records(self.output_notebook(stage))
        peak = record.get("peak_memory_gib")
        memory = f", peak memory {peak:.2f} GiB" if peak else ""
        self.log(f"[done]    {self._ended()} {stage.id} in {seconds:.1f} s{memory}")
        return StageResult(stage.id, "ran", seconds, record=record, claims=read_claims(self.output_notebook(stage)))

    def _execute(self, stage, params):
        import papermill  # nbclient and jupyter's machinery: a second, for a stage that runs

        target = self.output_notebook(stage)
        failed_copy = self.failed_copy(stage)
        notebook = nbformat.read(str(stage.notebook), as_version=4)
        # the kernel's peak memory, read by the kernel itself when the last cell is done (hidden in the book)
        notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_CELL, id="peak-memory",
                                                        metadata={"tags": ["remove-cell"]}))
        cells, since = len(notebook.cells) + bool(params), time.monotonic()  # papermill adds the parameters

        def on_cell(cell, cell_index):
            self._cells[stage.id] = (cell_index, cells, since)

        with atomic_output(target) as tmp, open(self.kernel_log(stage), "w") as log:
            try:
                papermill.execute_notebook(notebook, str(tmp), parameters=params, cwd=str(self.root),
                                           progress_bar=False, kernel_name="python3", on_cell_execute=on_cell,
                                           # TensorFlow's, oneDNN's and the kernel's own lines go to the log
                                           kernel_manager_class=_kernel_manager_writing_to(
                                               log, kernel_thread_settings(self.jobs)),
                                           extra_arguments=["--IPKernelApp.log_level=ERROR"])
            except Exception:
                if tmp.exists():  # keep the executed copy with the error for the user to read
                    failed_copy.parent.mkdir(parents=True, exist_ok=True)
                    tmp.replace(failed_copy)
                raise
            finish_page(tmp, stage, {f"{self.root}/": "", str(self.data_dir): f"data/{self.label}",
                                      str(self.book_dir): "book"}, self.profile, self.scale)
        if failed_copy.exists():
            failed_copy.unlink()

    def failed_copy(self, stage):
        """Where a failed stage's executed copy is kept: under the stage's own id, so two
        stages whose notebooks share a name (photon_jets/explore and photon_id/explore) never
        replace each other's, and a later success of one never deletes the other's."""
        return self.state_dir / "failed" / f"{stage.id}.ipynb"

    def kernel_log(self, stage):
        """What the stage's kernel printed outside its cells (TensorFlow's start-up lines),
        kept beside its executed notebook instead of on the terminal."""
        path = self.output_notebook(stage).with_suffix(".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _shown(self, path):
        return path.relative_to(self.root) if self.root in path.resolve().parents else path

    def _describe_failure(self, stage, error):
        where = self._shown(stage.notebook)
        cell = getattr(error, "cell_index", None)
        if cell is not None:
            failed_copy = self.failed_copy(stage)
            return (f"{where}, cell {cell} (execution count {getattr(error, 'exec_count', '?')}): "
                    f"{getattr(error, 'ename', type(error).__name__)}: {getattr(error, 'evalue', error)} "
                    f"(executed copy: {failed_copy})")
        return f"{where}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def kernel_thread_settings(jobs, cores=None):
    """The environment that sizes each kernel's OpenMP and BLAS pools (numpy, scikit-learn's
    and XGBoost's trees) to its share of ``cores`` (all of the machine's by default) when
    ``jobs`` kernels run at once. Pools that outnumber the cores spin and slow each other: a
    100-tree raw-cell GBDT took 26 s with one thread and 42 s with two, beside two busy cores.
    TensorFlow's pools stay at their defaults: two CNN trainings at once took as long with
    them sized to one thread each (``benchmarks/bench_threads.py`` measures it)."""
    share = str(max(1, (cores or os.cpu_count() or 1) // max(1, jobs)))
    return {"OMP_NUM_THREADS": share, "OPENBLAS_NUM_THREADS": share, "MKL_NUM_THREADS": share}


def _kernel_manager_writing_to(log, environment):
    """A kernel manager whose kernels print into ``log`` (an open file), not the terminal, and
    start with ``environment`` where the user's own environment does not set a name. Given to
    each kernel, never written into this process's ``os.environ``: a second run in the same
    process with another ``jobs`` would otherwise inherit the first run's thread counts (the test
    suite's smoke run, two kernels at a time, got two threads each from an earlier one-job run)."""
    from jupyter_client.manager import AsyncKernelManager  # as papermill, in _execute

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            env = dict(kw.get("env") or os.environ)
            env.update({name: value for name, value in environment.items() if name not in os.environ})
            await super()._async_launch_kernel(kernel_cmd, **{**kw, "env": env, "stdout": log, "stderr": log})

    return LoggedKernelManager


@contextlib.contextmanager
def _folder_lock(folder):
    """Hold ``folder`` for this run (``filelock``), or refuse in one sentence naming the
    run that holds it: two runs writing one folder would stamp each other's results."""
    lock, owner = folder / ".pipeline.lock", folder / ".pipeline.lock.owner"
    if lock.is_dir() or owner.is_dir():  # filelock would wait on it forever, or say "in use"
        raise PipelineError(f"{lock if lock.is_dir() else owner} is a folder, not this pipeline's lock file; "
                            "remove it, then run again")
    try:
        held = filelock.FileLock(lock, timeout=0).acquire()
    except filelock.Timeout:
        try:
            holder = json.loads(owner.read_text())
            by = f"run {holder['pid']} (`{holder['command']}`, started {holder['started']})"
        except (OSError, ValueError, KeyError):
            by = "another run"
        raise PipelineError(f"{folder} is in use by {by}; wait for it to end or stop it, then run again") from None
    except OSError as error:  # an immutable or unreadable lock file (filelock's Timeout is an OSError too: first)
        raise PipelineError(f"cannot take the lock {lock} for this run: {error.strerror or error}; "
                            "if no run uses the folder, remove the file, then run again") from None
    with held:
        owner.write_text(json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv),
                                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        try:
            yield
        finally:
            owner.unlink(missing_ok=True)


def _cmdline(process):
    try:
        return " ".join(process.cmdline())
    except Exception:  # noqa: BLE001 - a process that ended or is not ours
        return ""


def results_table(results):
    """One row per stage: status, seconds, the claims of its page that did not hold and
    every value its notebook recorded."""
    rows = [{"stage": r.stage, "status": r.status, "seconds": round(r.seconds, 1),
             "claims_not_held": "; ".join(r.claims_not_held), **r.record} for r in results]
    return pd.DataFrame(rows).set_index("stage")


def summary_table(results):
    width = max([40] + [len(r.stage) + 1 for r in results])
    lines = [f"{'stage':{width}s} {'status':8s} {'time':>8s}  recorded"]
    for r in results:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.record.items())
        lines.append(f"{r.stage:{width}s} {r.status:8s} {r.seconds:7.1f}s  {shown}".rstrip())
    not_held = [(r.stage, name) for r in results for name in r.claims_not_held]
    decided = sum(len(r.claims) for r in results)
    if decided:
        lines.append(claims_note(decided, len(not_held), on_page=False))
    if not_held:
        lines.append(f"claims that did not hold on this run ({len(not_held)}; each page says what was measured "
                     "instead):")
        lines += [f"  {stage}: {name}" for stage, name in not_held]
    return "\n".join(lines)
