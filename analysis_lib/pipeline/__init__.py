"""The notebook pipeline: run the book's stages with papermill.

The stages come from ``stages.yml`` (``stage_list``: each stage's notebook, its
parameters per profile, what it ``reads`` and ``writes``, the graph those make). The
pipeline is four modules, one job each:

- ``parameters``: the notebooks' parameters checked before anything runs (names and
  types against each notebook's ``parameters`` cell, values against
  ``analysis_lib.ranges``), overrides that never redirect where a stage writes, and
  scaled profiles;
- ``sweeps``: a stage run once per combination of a grid of parameter values;
- ``hashing``: what a stage's result depends on (the files it reads, the library
  modules its notebook imports) and its content hash;
- ``runner``: ``Pipeline``, which runs stages in dependency order, skips the current
  ones, holds its folders, stops at once on Ctrl-C and reports progress.

``book_pages`` (outside the pipeline) makes each executed notebook a page of the book.

Contents (re-exported here): ``Pipeline``, ``StageResult``, ``results_table``,
``summary_table``; ``parse_value``, ``parse_overrides``, ``notebook_parameters``,
``scale_profile``, ``check_parameters``; ``check_range``, ``PARAMETER_RANGES`` (from
``analysis_lib.ranges``); ``sweep``; ``stage_inputs``, ``module_dependencies``,
``library_sources``, ``stage_hash``, ``LIBRARY_DIR``; and from ``stage_list``:
``PROFILES``, ``Stage``, ``load_stages``, ``headline_files``, ``dependencies``,
``select``, ``book_page``, ``default_root``.
"""

from ..ranges import PARAMETER_RANGES, check_range
from ..stage_list import (PROFILES, Stage, book_page, default_root, dependencies, headline_files, load_stages,
                          select)
from .hashing import LIBRARY_DIR, library_sources, module_dependencies, stage_hash, stage_inputs
from .parameters import check_parameters, notebook_parameters, parse_overrides, parse_value, scale_profile
from .runner import Pipeline, StageResult, results_table, summary_table
from .sweeps import sweep

__all__ = ["PARAMETER_RANGES", "check_range", "PROFILES", "Stage", "book_page", "default_root", "dependencies",
           "headline_files", "load_stages", "select", "LIBRARY_DIR", "library_sources", "module_dependencies",
           "stage_hash", "stage_inputs", "check_parameters", "notebook_parameters", "parse_overrides", "parse_value",
           "scale_profile", "Pipeline", "StageResult", "results_table", "summary_table", "sweep"]
