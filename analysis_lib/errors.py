"""Errors a user can act on.

Every error that reaches the command line or a notebook because of a bad file,
parameter or dataset is one of these, with a one-sentence message that names
the thing at fault; the CLI prints the sentence instead of a traceback, and so
does a notebook (IPython's ``_render_traceback_``).
"""


class AnalysisError(Exception):
    """Base class: a problem with the user's input, not a bug in the library."""

    def _render_traceback_(self):
        """What IPython shows instead of a traceback (a notebook, JupyterLab): the
        sentence alone, since the frames inside the library say nothing about the input."""
        return [f"{type(self).__name__}: {self}"]


class DataFileError(AnalysisError):
    """A data file is missing, unreadable, truncated or has the wrong content."""


class ParameterError(AnalysisError, ValueError):
    """A parameter has an unknown name, a wrong type or an impossible value."""


class EmptyDatasetError(AnalysisError):
    """A dataset (or a selection of it) holds no events."""


class PipelineError(AnalysisError):
    """A stage of the pipeline failed or the stage list is inconsistent."""
