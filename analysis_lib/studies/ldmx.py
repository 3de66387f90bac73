"""The dark-photon study in an LDMX-like Si-W ECAL: hits turned into images, a ConvNet
and a mass-parameterised ConvNet, and masses never trained on. The trigger is the
detector's (``LdmxEcal.passes_trigger``); hits are read by ``io.iterate_hits``.

Contents: ``background_mass_hypotheses``, ``ldmx_hits``, ``iterate_hit_images``,
``hits_to_images``, ``hit_images``, ``dark_photon_convnet``.
"""

import keras
import numpy as np
from keras import layers

from ..errors import EmptyDatasetError, ParameterError


# -- the samples -----------------------------------------------------------------------
def background_mass_hypotheses(is_signal, masses_gev, choices_gev, seed=0):
    """Mass input of a mass-parameterised classifier: the signal's own A' mass, and for
    background a mass drawn at random from ``choices_gev`` (the original's recipe), so
    the network cannot tell the classes apart by the mass input alone."""
    is_signal, masses_gev = np.asarray(is_signal, bool), np.asarray(masses_gev, float)
    if len(choices_gev) == 0:
        raise ParameterError("the background needs at least one mass to be drawn from")
    drawn = np.random.default_rng(seed).choice(np.asarray(choices_gev, float), size=len(masses_gev))
    return np.where(is_signal, masses_gev, drawn).astype(np.float32)


def ldmx_hits(path, hits=None, **options):
    """Chunks of an LDMX hits file (``io.iterate_hits`` with its ``options``): the study's
    own ntuples or ldmx-sw event files (``hits``: a layout to override the one found),
    with calibrated energies turned back into deposited ones by the ECAL's sampling
    fraction, so that every file gives the same quantity."""
    from ..detectors import LDMX_ECAL
    from ..io import iterate_hits

    return iterate_hits(path, hits=hits, sampling_fraction=LDMX_ECAL.sampling_fraction_at, **options)


def _chunk_hit_images(path, start, stop, formats, hits=None):

    chunk = next(ldmx_hits(path, hits, step_size=stop - start, entry_start=start, entry_stop=stop))
    images, kept = {}, None
    for name, options in formats.items():
        images[name], kept = hit_images(chunk["x"], chunk["y"], chunk["z"], chunk["E"], **options)
    return images, kept


def iterate_hit_images(path, formats, step_size=5000, mapper=None, hits=None):
    """Images of a hits file (``ldmx_hits``: the study's ``ecalHits`` ntuples or ldmx-sw
    event files; ``hits`` overrides the layout found), one entry range of ``step_size``
    events at a time, each range converted by ``mapper`` (builtin map, or
    ``cluster.ordered_map`` for a Dask cluster; same result). ``formats`` maps a name to
    the options of ``hit_images`` (kind, size, depth, ...). Yields, per range, the images
    of its non-empty events per name and the number of events read: a file of any size
    converts in the memory of one range."""
    from ..io import count_hit_events, find_hits

    layout = find_hits(path, hits)
    n = count_hit_events(path, layout)
    if n == 0:
        raise EmptyDatasetError(f"{path} holds no events")
    starts = list(range(0, n, step_size))
    stops = [min(s + step_size, n) for s in starts]
    for (images, _), start, stop in zip((mapper or map)(_chunk_hit_images, [path] * len(starts), starts, stops,
                                                           [formats] * len(starts), [layout] * len(starts)),
                                           starts, stops):
        yield images, stop - start


def hits_to_images(path, formats, step_size=5000, mapper=None, hits=None):
    """All of ``iterate_hit_images`` at once: the images of every non-empty event per
    name, and the number of events read."""
    chunks = list(iterate_hit_images(path, formats, step_size, mapper, hits))
    return {name: np.concatenate([images[name] for images, _ in chunks]) for name in formats}, sum(n for _, n in chunks)


# -- hits to images --------------------------------------------------------------------
def _nearest_grid_index(values, low, high, n):
    """Index of the nearest of n points linspace(low, high, n) (the original's binning);
    a value halfway between two points goes to the lower one, as argmin does."""
    return np.clip(np.ceil((values - low) / (high - low) * (n - 1) - 0.5), 0, n - 1).astype(np.int64)


def hit_images(x, y, z, energy, kind="xyz", size=20, depth=10, log_depth=False, xy_range_mm=(-200.0, 200.0),
               z_range_mm=(240.0, 530.0)):
    """Images from jagged hits (awkward arrays: per event x, y, z in mm, E in MeV).

    * ``kind="xyz"``: (events, size, size, 3), the x-y, y-z and z-x projections of the
      energy as three channels, each hit on the nearest point of a ``size`` grid;
    * ``kind="z_split"``: (events, size, size, depth), the x-y image in ``depth`` slices
      of z, linear or, with ``log_depth``, logarithmic (fine at the front, where EM
      showers start).

    The original put z on the x-y grid (-200..200 mm), so every ECAL hit (z > 240 mm) fell
    in its last z bin; here z spans the ECAL. Each image is divided by its maximum.
    Events without energy are dropped: returns (images, kept) with ``kept`` a boolean
    mask over the input events.
    """
    import awkward as ak

    if kind not in ("xyz", "z_split"):
        raise ParameterError(f"image kind must be 'xyz' or 'z_split', not {kind!r}")
    if size < 2 or depth < 1:
        raise ParameterError(f"image size must be at least 2 and depth at least 1, got {size} and {depth}")
    counts = np.asarray(ak.num(energy))
    flat = {name: np.asarray(ak.flatten(values), dtype=np.float64) for name, values in
            (("x", x), ("y", y), ("z", z), ("E", energy))}
    event = np.repeat(np.arange(len(counts)), counts)
    ix = _nearest_grid_index(flat["x"], *xy_range_mm, size)
    iy = _nearest_grid_index(flat["y"], *xy_range_mm, size)
    if kind == "xyz":
        iz = _nearest_grid_index(flat["z"], *z_range_mm, size)
        images = np.zeros(len(counts) * size * size * 3)
        for channel, (a, b) in enumerate(((ix, iy), (iy, iz), (iz, ix))):
            # bincount on the flat index: the vectorised form of "+= E" per hit
            images += np.bincount(((event * size + a) * size + b) * 3 + channel, flat["E"], minlength=images.size)
        images = images.reshape(len(counts), size, size, 3)
    else:
        low, high = z_range_mm
        if log_depth:
            edges = low - 1.0 + np.geomspace(1.0, high - low + 1.0, depth + 1)
        else:
            edges = np.linspace(low, high, depth + 1)
        iz = np.clip(np.searchsorted(edges, flat["z"], side="right") - 1, 0, depth - 1)
        images = np.bincount(((event * size + ix) * size + iy) * depth + iz, flat["E"],
                             minlength=len(counts) * size * size * depth).reshape(len(counts), size, size, depth)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    kept = peak > 0
    return (images[kept] / peak[kept, None, None, None]).astype(np.float32), kept


# -- the network -----------------------------------------------------------------------
def dark_photon_convnet(input_shape, mass_input=False, dropout=0.3, name=None):
    """The original's ConvNet (Keras): conv 32 (5x5) - pool - conv 64 (5x5) - pool -
    dropout, then dense 500 to two logits (background, signal); with ``mass_input``, the
    mass-parameterised version: dense 20, joined by the A' mass hypothesis (GeV), dense 60."""
    image = keras.Input(input_shape, name="image")
    x = layers.Conv2D(32, 5, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(layers.Dropout(dropout)(x))
    if not mass_input:
        x = layers.Dense(500, activation="relu")(x)
        return keras.Model(image, layers.Dense(2, name="logits")(x), name=name or "convnet")
    mass = keras.Input((1,), name="mass_gev")
    x = layers.Concatenate()([layers.Dense(20, activation="relu")(x), mass])
    x = layers.Dense(60, activation="relu")(x)
    return keras.Model([image, mass], layers.Dense(2, name="logits")(x), name=name or "mass_parameterised_convnet")
