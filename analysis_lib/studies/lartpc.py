"""The LArTPC particle-identification study: six particle classes in single
collection-plane images, a CNN, the original study's network and its overfitting.

Contents: ``lartpc_images``, ``scaled_images``, ``BATCH_NORM_MOMENTUM``,
``lartpc_original_cnn``, ``lartpc_cnn``; the original's numbers: ``PUBLISHED_ACCURACY``.
"""

from pathlib import Path

import keras
import numpy as np
from keras import layers

from ..errors import EmptyDatasetError
from ..io import read_showers


# -- the samples -----------------------------------------------------------------------
def lartpc_images(data_dir, classes=None, negative_cells="keep"):
    """The LArTPC study's images, one HDF5 file per class (``<class>.h5``, a single layer
    of wires x ticks), scaled to their maxima with a channel axis, and the class labels
    (the class's index in ``lartpc.CLASSES``, from the file name, so a file needs no
    label array): (images, labels)."""
    from ..detectors.lartpc import CLASSES, LARTPC

    names = classes or CLASSES
    samples = [read_showers(Path(data_dir) / f"{name}.h5", detector=LARTPC, negative_cells=negative_cells)
               for name in names]
    images = scaled_images(np.concatenate([s.layers[0] for s in samples]))
    return images, np.concatenate([np.full(len(s), CLASSES.index(name)) for s, name in zip(samples, names)])


# -- the images ------------------------------------------------------------------------
def scaled_images(images):
    """(events, H, W) images divided by their own maximum, with a channel axis, float32.
    (The original added 0.1 after min-max scaling and then clipped noisy copies at 1,
    cutting off the brightest pixels; plain max scaling keeps them.)"""
    images = np.asarray(images, dtype=np.float32)
    peak = images.reshape(len(images), -1).max(axis=1) if len(images) else np.zeros(0)
    if len(images) == 0 or (peak <= 0).any():
        raise EmptyDatasetError(f"{int((peak <= 0).sum()) if len(images) else 0} of {len(images)} images are empty")
    return (images / peak[:, None, None])[..., None]


# -- the networks ----------------------------------------------------------------------
#: Keras's default 0.99 needs thousands of steps before the moving variance forgets its
#: initial 1; with a few hundred steps on images of mean ~0.01, inference would then see
#: activations shrunk twentyfold and predict one class for everything.
BATCH_NORM_MOMENTUM = 0.9


def lartpc_original_cnn(input_shape, n_classes=6):
    """The published LArIAT network: three blocks of 3x3 convolutions (16, 32, 64) with ReLU,
    batch normalisation and 2x2 max pooling, then dense 64 and 32 (L2 1e-3, small normal
    initialisation, dropout 0.5 each) and one output per class (logits: the softmax is
    in the loss, as ``training.train_classifier`` uses it)."""
    dense = dict(activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3),
                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    x = image = keras.Input(input_shape, name="image")
    for i, width in enumerate((16, 32, 64)):
        x = layers.Conv2D(width, 3, activation="relu", name=f"conv_{i}")(x)
        x = layers.MaxPooling2D(2)(layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x))
    x = layers.Dropout(0.5)(layers.Dense(64, **dense)(layers.Flatten()(x)))
    x = layers.Dropout(0.5)(layers.Dense(32, **dense)(x))
    return keras.Model(image, layers.Dense(n_classes, name="classes")(x), name="original_cnn")


def lartpc_cnn(input_shape, n_classes=6, widths=(16, 32, 64, 64), augment=True, dropout=0.3):
    """A smaller-headed network: 2x2 average pooling first (8 mm pixels still resolve
    tracks), four convolution blocks, global average pooling instead of a 2-million-weight
    dense layer, and (training only) random flips of the drift axis and shifts in time.

    Group normalisation (8 groups) instead of batch normalisation: it normalises each
    image by itself, so training and inference compute the same thing. With batch
    normalisation, a few hundred steps left the moving statistics far from the batch
    statistics the network had learnt with: muons against electrons reached 98 % on the
    training images and 47-55 % (one class for everything) on held-out ones, on 4 of 5
    seeds; with group normalisation 94-100 % on all 5."""
    x = image = keras.Input(input_shape, name="image")
    if augment:
        x = layers.RandomFlip("horizontal")(x)  # axis 1 = time: drift up or down is symmetric
        x = layers.RandomTranslation(0.0, 0.1, fill_mode="constant")(x)
    x = layers.AveragePooling2D(2)(x)
    for i, width in enumerate(widths):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = layers.GroupNormalization(groups=8)(x)
        if i < len(widths) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(image, layers.Dense(n_classes, name="classes")(x), name="lartpc_cnn")


# -- the original's numbers ------------------------------------------------------------
#: Test accuracies in the original study's README (six classes, LArIAT collection-plane
#: images): its first network, which overfit, and its regularised one.
PUBLISHED_ACCURACY = {"published network, as published (overfit)": 0.75, "regularised network, as published": 0.64}
