"""Reading and writing calorimeter files, one module per kind of file: ``files``
(atomic writes that never replace a file this library did not write, file kinds, ROOT
objects), ``showers`` (images, HDF5 and ROOT), ``hits`` (ROOT trees of jagged hits),
``results`` (arrays and tables the notebooks hand on) and ``model_files`` (Keras and
ONNX). Everything is importable from here.

Contents: ``atomic_output``, ``remove_stale_partials``, ``remove_stale_partials_under``, ``check_replaceable``,
``written_by_this_library``, ``missing_file``, ``file_format``, ``PROJECT_DATA_DIR``;
``write_showers``, ``ShowerSample``, ``read_showers``, ``iterate_showers``;
``HitLayout``, ``find_hits``, ``write_hits``, ``count_hit_events``, ``iterate_hits``;
``save_arrays``, ``save_array_chunks``, ``load_arrays``, ``save_residuals``, ``load_residuals``, ``save_table``,
``load_table``; ``save_model``, ``load_model``, ``export_onnx``, ``OnnxModel``.
"""

from .files import (DATA_SUFFIXES, PROJECT_DATA_DIR, WRITTEN_BY, atomic_output, check_replaceable, file_format,
                    format_from_suffix, missing_file, remove_stale_partials, remove_stale_partials_under,
                    written_by_this_library)
from .hits import HIT_BRANCHES, HITS_TREE, HitLayout, count_hit_events, find_hits, iterate_hits, write_hits
from .model_files import OnnxModel, export_onnx, load_model, save_model
from .results import (load_arrays, load_residuals, load_table, save_array_chunks, save_arrays, save_residuals,
                      save_table)
from .showers import NEGATIVE_CELLS, TREE_NAME, UNIT_TO_MEV, ShowerSample, iterate_showers, read_showers, write_showers

__all__ = ["DATA_SUFFIXES", "HIT_BRANCHES", "HITS_TREE", "NEGATIVE_CELLS", "PROJECT_DATA_DIR", "TREE_NAME",
           "UNIT_TO_MEV", "WRITTEN_BY", "HitLayout", "OnnxModel", "ShowerSample", "atomic_output", "check_replaceable",
           "count_hit_events", "export_onnx", "file_format", "find_hits", "format_from_suffix", "iterate_hits",
           "iterate_showers", "load_arrays", "load_model", "load_residuals", "load_table", "missing_file",
           "read_showers", "remove_stale_partials", "remove_stale_partials_under", "save_array_chunks", "save_arrays",
           "save_model", "save_residuals", "save_table",
           "write_hits", "write_showers", "written_by_this_library"]
