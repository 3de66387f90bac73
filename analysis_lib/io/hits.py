"""Hits: jagged (x, y, z, E) per event in a ROOT tree, in the layout a ``HitLayout``
names; ``find_hits`` recognises the LDMX study's ``ecalHits`` ntuples and ldmx-sw event
files (``LDMX_Events`` with ``EcalRecHits_<pass>`` or ``EcalSimHits_<pass>``).

Contents: ``HITS_TREE``, ``HIT_BRANCHES``, ``HitLayout``, ``find_hits``, ``write_hits``,
``count_hit_events``, ``iterate_hits``.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError, ParameterError
from .files import (TREE_CLASSES, WRITTEN_BY, atomic_output, describe_root_objects, format_from_suffix, open_root,
                    progress_disabled, root_trees)


HITS_TREE = "ecalHits"


HIT_BRANCHES = ("x", "y", "z", "E")


@dataclass(frozen=True)
class HitLayout:
    """Where a ROOT file keeps its calorimeter hits: the tree's path and the branches of
    x, y, z (mm) and energy (MeV). ``calibrated``: the energy is the sampling-corrected
    one (ldmx-sw's ``EcalRecHits``), not the energy deposited in the sensor.

    Written as text: ``"TREE:X,Y,Z,E"`` (the ``hits`` parameter, ``--hits``), with
    ``:calibrated`` appended for sampling-corrected energies."""

    tree: str = HITS_TREE
    x: str = "x"
    y: str = "y"
    z: str = "z"
    energy: str = "E"
    calibrated: bool = False

    @property
    def branches(self):
        return (self.x, self.y, self.z, self.energy)

    @classmethod
    def parse(cls, text):
        parts = str(text).split(":")
        branches = parts[1].split(",") if len(parts) > 1 else []
        if len(parts) not in (2, 3) or len(branches) != 4 or not all(branches) or not parts[0] or \
                (len(parts) == 3 and parts[2] != "calibrated"):
            raise ParameterError(f"hits must read 'TREE:X,Y,Z,E' (optionally ':calibrated'), not {text!r}")
        return cls(parts[0], *branches, calibrated=len(parts) == 3)

    def __str__(self):
        return f"{self.tree}:{','.join(self.branches)}" + (":calibrated" if self.calibrated else "")


def _ldmx_collection(tree):
    """The hit layout of an ldmx-sw event tree: its EcalRecHits collection (reconstructed,
    calibrated energies), else its EcalSimHits (energy deposited in the silicon)."""
    keys = tree.keys(recursive=True)
    for pattern, members, calibrated in ((r"(EcalRecHits_[^./]*)\.xpos_$",
                                          ("xpos_", "ypos_", "zpos_", "energy_"), True),
                                         (r"(EcalSimHits_[^./]*)\.x_$", ("x_", "y_", "z_", "edep_"), False)):
        found = [(k, m.group(1)) for k in keys if (m := re.search(pattern, k.rsplit("/", 1)[-1]))]
        if len(found) > 1:
            raise DataFileError(f"{tree.file.file_path} holds several hit collections "
                                f"({', '.join(c for _, c in found)}): "
                                f"choose one with hits='{tree.object_path.strip('/').split(';')[0]}:X,Y,Z,E'")
        if found:
            key, collection = found[0]
            prefix = key[: len(key) - len(key.rsplit("/", 1)[-1])]
            return [f"{prefix}{collection}.{member}" for member in members], calibrated
    return None


def find_hits(path, hits=None):
    """The ``HitLayout`` of ``path``: ``hits`` as given (a HitLayout or its text), else
    found in the file: a tree ``ecalHits`` with x, y, z, E (the LDMX study's ntuples, also
    inside a directory), or an ldmx-sw ``LDMX_Events`` tree with an ``EcalRecHits_<pass>``
    or ``EcalSimHits_<pass>`` collection. Refuses, naming every tree it looked at."""
    path = Path(path)
    file = open_root(path)
    objects = root_trees(file)
    if hits:
        layout = hits if isinstance(hits, HitLayout) else HitLayout.parse(hits)
        if objects.get(layout.tree) not in TREE_CLASSES:
            raise DataFileError(f"{path} has no tree {layout.tree!r} (it holds {describe_root_objects(objects)})")
        missing = [b for b in layout.branches if b not in file[layout.tree]]
        if missing:
            raise DataFileError(f"the {layout.tree!r} tree of {path} lacks the branch(es) {', '.join(missing)}")
        return layout
    for name, kind in objects.items():
        if kind not in TREE_CLASSES:
            continue
        tree = file[name]
        if name.rsplit("/", 1)[-1] == HITS_TREE:
            missing = [b for b in HIT_BRANCHES if b not in tree.keys()]
            if missing:
                raise DataFileError(f"the '{HITS_TREE}' tree of {path} lacks the branch(es) {', '.join(missing)}")
            return HitLayout(name)
        found = _ldmx_collection(tree)
        if found:
            return HitLayout(name, *found[0], calibrated=found[1])
    raise DataFileError(f"{path} holds no hits this library recognises (looked at {describe_root_objects(objects)}): "
                        f"name the tree and branches with hits='TREE:X,Y,Z,E'")


def write_hits(chunks, path, n_events, attrs=None, progress=True):
    """Write chunks of hit events (``eventNumber``, per-event arrays ``x, y, z`` in mm and
    ``E`` in MeV, plus flat per-event truth arrays) to a ROOT file with a TTree
    ``ecalHits`` of jagged branches, as the LDMX study's ntuples are; atomically."""
    import awkward as ak
    import uproot
    from tqdm import tqdm

    path = Path(path)
    if format_from_suffix(path) != "root":
        raise DataFileError(f"hits are written to ROOT files: {path} should end in .root")
    with atomic_output(path) as tmp:
        with uproot.recreate(tmp) as file, tqdm(total=n_events, unit="event", disable=progress_disabled(progress),
                                                desc=path.name,
                                                mininterval=2) as bar:
            file["attrs"] = json.dumps(dict(attrs or {}, units="mm, MeV", n_events=int(n_events),
                                            written_by=WRITTEN_BY))
            tree = None
            for chunk in chunks:
                counts = np.array([len(e) for e in chunk["E"]])
                data = {key: ak.unflatten(np.concatenate(chunk[key]).astype(np.float32), counts)
                        for key in HIT_BRANCHES}
                data.update({k: np.asarray(v) for k, v in chunk.items() if k not in HIT_BRANCHES})
                if tree is None:  # mktree: a plain assignment would write an RNTuple
                    tree = file.mktree(HITS_TREE, {k: (v.type if isinstance(v, ak.Array) else v.dtype)
                                                   for k, v in data.items()})
                tree.extend(data)
                bar.update(len(counts))
    return path


def count_hit_events(path, hits=None):
    """Number of events in the hits tree of ``path`` (found as ``find_hits`` does)."""
    layout = find_hits(path, hits)
    return int(open_root(path)[layout.tree].num_entries)


def iterate_hits(path, step_size=10000, truth=(), entry_start=None, entry_stop=None, hits=None,
                 sampling_fraction=None):
    """Read hits in chunks of ``step_size`` events (of the entries ``entry_start`` to
    ``entry_stop``, all by default): yields dicts of awkward arrays ``x, y, z`` (mm),
    ``E`` (MeV deposited) and the flat ``truth`` branches asked for. ``hits``: the
    layout (``find_hits`` finds it when not given). Calibrated energies are turned back
    into deposited ones with ``sampling_fraction(z_mm)``, which such files need.

    Refuses, with one sentence, a file that is not ROOT, is truncated, has no hits it
    recognises, lacks a branch, whose hit branches differ in length in some event, or
    with NaN or infinite hit values. Negative energies are kept (noise-subtracted
    read-outs); an event with no positive deposit makes no image.
    """
    import awkward as ak

    path = Path(path)
    layout = find_hits(path, hits)
    if layout.calibrated and sampling_fraction is None:
        raise ParameterError(f"the hits of {path} are calibrated energies: give the detector's sampling fraction")
    tree = open_root(path)[layout.tree]
    missing = [b for b in truth if b not in tree]
    if missing:
        raise DataFileError(f"the {layout.tree!r} tree of {path} lacks the branch(es) {', '.join(missing)}")
    start = entry_start or 0
    try:
        for chunk in tree.iterate(list(layout.branches) + list(truth), step_size=step_size, library="ak",
                                  entry_start=entry_start, entry_stop=entry_stop):
            values = dict(zip(HIT_BRANCHES, (chunk[b] for b in layout.branches)))
            counts = {b: np.asarray(ak.num(v)) for b, v in values.items()}
            for b in HIT_BRANCHES[1:]:
                bad = np.flatnonzero(counts[b] != counts["x"])
                if bad.size:
                    raise DataFileError(f"in {path}, event {start + bad[0]} has {counts['x'][bad[0]]} x values but "
                                        f"{counts[b][bad[0]]} {b} values: the hit branches must have equal lengths")
            for b, v in values.items():
                bad = ~np.isfinite(np.asarray(ak.flatten(v), dtype=np.float64))
                if bad.any():
                    event = start + int(np.searchsorted(np.cumsum(counts[b]), np.argmax(bad), side="right"))
                    raise DataFileError(f"in {path}, the hits' {b} values hold NaN or infinity "
                                        f"(first in event {event})")
            if layout.calibrated:
                flat_z = np.asarray(ak.flatten(values["z"]), dtype=np.float64)
                values["E"] = ak.unflatten(np.asarray(ak.flatten(values["E"])) * sampling_fraction(flat_z),
                                           counts["E"])
            start += len(chunk)
            yield dict(values, **{b: chunk[b] for b in truth})
    except (DataFileError, ParameterError):
        raise
    except Exception as error:
        raise DataFileError(f"{path} is truncated or corrupted: reading stopped after {start} events "
                            f"({type(error).__name__})") from None
