"""TensorFlow's start-up lines kept off the user's screen.

Importing TensorFlow writes two lines to the process's standard error from C++ (absl's
notice that logging is not initialised yet, and oneDNN's note on round-off) before any
log setting applies: in JupyterLab they show as a red box under the first cell that
imports a network. The one setting that silences them, ``TF_ENABLE_ONEDNN_OPTS=0``,
changes the numerics, so instead the import of ``tensorflow`` runs with file descriptor
2 pointed at a temporary file, and every other line it wrote is passed on afterwards.
Its later C++ lines (which CPU instructions it was built for, notices about graph
attributes) are below the log level ``install`` sets, ``TF_CPP_MIN_LOG_LEVEL=3``, the
command line's and the pipeline's too (a value of yours is kept; Python errors still
show, they do not go through this log). ``install`` runs when ``analysis_lib`` is imported, for the first import of
TensorFlow that comes after it.

A study module imports Keras only when it builds a network (``keras_and_layers``): reading
and checking files and training trees never start TensorFlow (~10 s).

Contents: ``TENSORFLOW_STARTUP_LINES``, ``install``, ``keras_and_layers``.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile

#: What TensorFlow prints to the process's stderr when it starts, before any log setting applies.
TENSORFLOW_STARTUP_LINES = ("All log messages before absl::InitializeLog() is called",
                            "oneDNN custom operations are on")


@contextlib.contextmanager
def _startup_lines_dropped():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to redirect (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not any(marker in line for marker in TENSORFLOW_STARTUP_LINES)]
            if kept:
                sys.stderr.write("".join(kept))


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with the start-up lines dropped."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with _startup_lines_dropped():
            self.loader.exec_module(module)

    def __getattr__(self, name):  # resources and source, as the wrapped loader gives them
        return getattr(self.loader, name)


class _QuietTensorflowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders find the spec
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install():
    """Drop the start-up lines of the next import of TensorFlow (nothing if it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorflowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorflowFinder())


def keras_and_layers():
    """``(keras, keras.layers)``, for a function that builds a network: importing them there
    rather than at the top of a study module keeps TensorFlow's start-up (~10 s) out of every
    page that only reads files, fits or trains trees."""
    import keras

    return keras, keras.layers
