"""Where the project keeps its own things, so that a notebook's defaults point at the
same files from any working folder (JupyterLab starts kernels in the notebook's folder,
papermill in the caller's).

Contents: ``REPOSITORY_DIR``, ``PROJECT_DATA_DIR``, ``REPOSITORY_TOKEN``, ``in_repository``.
"""

from pathlib import Path

#: The repository: the folder holding stages.yml beside the library (an editable
#: install, as the Makefile makes), else the current folder.
REPOSITORY_DIR = (Path(__file__).resolve().parents[1] if (Path(__file__).resolve().parents[1] / "stages.yml").exists()
                  else Path.cwd())

#: The project's own data folder (``data/<profile>`` beside the library): everything in it
#: is the pipeline's. Never the working folder's ``data``, which may be a user's.
PROJECT_DATA_DIR = Path(__file__).resolve().parents[1] / "data"

#: How a notebook's default path names the repository: ``"{repository}/data/book/..."``.
REPOSITORY_TOKEN = "{repository}"


def in_repository(*paths):
    """Each path with a leading ``{repository}`` made the repository's absolute path;
    any other path (yours, relative to your working folder or absolute) as given. One
    path gives one string, several a tuple."""
    resolved = tuple(str(REPOSITORY_DIR) + str(p)[len(REPOSITORY_TOKEN):] if str(p).startswith(REPOSITORY_TOKEN)
                     else p for p in paths)
    return resolved[0] if len(resolved) == 1 else resolved
