"""Trained models on disk: Keras 3 ``.keras`` files and ONNX exports written so that the
same weights give the same bytes, and ONNX models run with onnxruntime. No pickle.

Contents: ``save_model``, ``load_model``, ``export_onnx``, ``OnnxModel``.
"""

import heapq
import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataFileError, ParameterError
from .files import atomic_output, missing_file


def save_model(model, path):
    """Save a Keras model in the native ``.keras`` format (no pickle), atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise DataFileError(f"Keras models are saved as .keras files, not {path.name}")
    with atomic_output(path) as tmp:
        model.save(tmp)
        _make_reproducible(tmp)
    return path


def _make_reproducible(archive):
    """Rewrite a ``.keras`` zip so that the same model gives the same bytes: Keras stores
    Python object ids (``shared_object_id``), the save time and file dates in it. Ids are
    renumbered in order of appearance (loading only needs them consistent), the time dropped."""
    with zipfile.ZipFile(archive) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    ids = {}
    members["config.json"] = re.sub(rb'"shared_object_id": (\d+)', lambda m: b'"shared_object_id": %d' % ids.setdefault(
        m.group(1), len(ids)), members["config.json"])
    metadata = json.loads(members.get("metadata.json", b"{}"))
    metadata.pop("date_saved", None)
    members["metadata.json"] = json.dumps(metadata, sort_keys=True).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def load_model(path, n_inputs=None):
    """Load a ``.keras`` model (the library's custom layers and losses included), or refuse
    with one sentence: a missing file, another format, a file Keras cannot read, or a
    model with another number of inputs than ``n_inputs``."""
    import keras

    from .. import models  # noqa: F401 - registers the custom layers and losses

    path = Path(path)
    if not path.is_file():
        raise missing_file(path)
    if path.suffix != ".keras":
        raise DataFileError(f"{path} is not a .keras model file (this library saves no pickle, HDF5 or SavedModel)")

    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path} is not a Keras model this version can load (a .keras file is a zip archive)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for foreign files
        if "Lambda" in str(error) and "safe_mode" in str(error):
            raise DataFileError(f"{path} holds a Lambda layer, whose Python code Keras does not load from a file "
                                f"(safe mode): rebuild the model from its builder and load the weights") from None
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        reason = first if len(first) <= 160 else first[:first.rfind(" ", 0, 160)] + " ..."
        raise DataFileError(f"{path} is not a Keras model this version can load ({reason})") from None
    if n_inputs is not None and len(model.inputs) != n_inputs:
        raise DataFileError(f"{path} is a model with {len(model.inputs)} input(s), this notebook needs {n_inputs}")
    return model


def export_onnx(model, path):
    """Export a Keras model to ONNX (Keras' own exporter, tf2onnx underneath), atomically."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise DataFileError(f"ONNX models are saved as .onnx files, not {path.name}")
    # the exporter refuses a model that has never been called (a freshly loaded one)
    model([np.zeros((1,) + tuple(i.shape[1:]), np.float32) for i in model.inputs])
    with atomic_output(path) as tmp, warnings.catch_warnings():
        # tf2onnx touches np.object, which NumPy 2 warns about; the exported model is checked against Keras
        warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
        model.export(str(tmp), format="onnx", verbose=False)
        _renumber_onnx_names(tmp)
    return path


_GENERATED = re.compile(r"__(\d+)(?=(:\d+)?$)")  # tf2onnx's suffix: Transpose__24, Transpose__24:0


def _renumber_onnx_names(path):
    """Rewrite an ONNX file so that the same model gives the same bytes. tf2onnx numbers
    the nodes and tensors it makes from a process-wide counter, and lists parallel
    branches in an order that changes from run to run (``Transpose__98`` once,
    ``Transpose__94`` the next). Here the nodes are put in one topological order (ties
    broken by what they compute and read) and the numbers renumbered in that order;
    names the model gave keep theirs."""
    import onnx

    model = onnx.load(str(path))
    graph, numbers = model.graph, {}
    # equal constants are merged under the name of whichever came first (const_axes__21 or const_starts__21)
    constants = {t.name: "const" + m.group(0) for t in graph.initializer if (m := _GENERATED.search(t.name))}
    for tensor in graph.initializer:
        tensor.name = constants.get(tensor.name, tensor.name)
    for node in graph.node:
        node.input[:] = [constants.get(n, n) for n in node.input]

    def renamed(name):
        return _GENERATED.sub(lambda m: "__" + str(numbers.setdefault(m.group(1), len(numbers))), name)

    def unnumbered(name):
        return _GENERATED.sub("__", name)

    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    canonical = {}  # a produced tensor's name -> its new name
    waiting = {i: {n for n in node.input if n not in available} for i, node in enumerate(graph.node)}
    readers = {}
    for i, needs in waiting.items():
        for name in needs:
            readers.setdefault(name, []).append(i)

    def key(i):
        node = graph.node[i]
        return (tuple(canonical.get(n, unnumbered(n)) for n in node.input), node.op_type, unnumbered(node.name), i)

    ready = [key(i) for i, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)[-1]
        order.append(i)
        for name in graph.node[i].output:
            canonical[name] = renamed(name)
            for reader in readers.get(name, []):
                waiting[reader].discard(name)
                if not waiting[reader]:
                    heapq.heappush(ready, key(reader))
    if len(order) != len(graph.node):  # not a graph this can order: leave it as exported
        return
    nodes = [graph.node[i] for i in order]
    for node in nodes:
        node.name = renamed(node.name)
        node.input[:] = [renamed(n) for n in node.input]
        node.output[:] = [renamed(n) for n in node.output]
    del graph.node[:]
    graph.node.extend(nodes)
    for values in (graph.initializer, graph.value_info, graph.input, graph.output):
        for value in values:
            value.name = renamed(value.name)
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = renamed(dim.dim_param)
    ordered = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    graph.doc_string = ""  # names TensorFlow's traced function, numbered by another counter
    onnx.save(model, str(path))


class OnnxModel:
    """An ONNX model run by onnxruntime on the CPU, called like ``keras.Model.predict``
    with a list of inputs in the order of the model's inputs."""

    def __init__(self, path):
        import onnxruntime

        path = Path(path)
        if not path.is_file():
            raise missing_file(path)
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:
            raise DataFileError(f"{path} is not an ONNX model onnxruntime can load ({type(error).__name__})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def predict(self, inputs, batch_size=1024):
        """The first output for every event, ``batch_size`` events per call: the whole
        sample in one call would hold every layer's activations for all events at once."""
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != len(self.input_names):
            raise ParameterError(f"the ONNX model takes {len(self.input_names)} inputs "
                                 f"({', '.join(self.input_names)}), "
                                 f"got {len(inputs)}")
        n = len(inputs[0])
        return np.concatenate([self.session.run(None, {name: np.asarray(x[start:start + batch_size], np.float32)
                                                       for name, x in zip(self.input_names, inputs)})[0]
                               for start in range(0, max(n, 1), batch_size)])
