"""Keras 3 models of the studies. Each builder returns an uncompiled ``keras.Model``
small enough to read on one screen."""

import keras
from keras import layers, ops


def photon_jet_cnn(layer_shapes, n_classes=3, reproduce_back_layer_bug=False, filters=(32, 16), dense=(64, 32),
                   layer_names=("presampler", "strips", "middle", "back")):
    """One convolutional branch per calorimeter layer, merged into a dense head (logits out).

    ``reproduce_back_layer_bug`` rebuilds the original study's network, whose head
    reads the middle-layer branch twice and never the back layer.
    """
    inputs, branches = [], []
    for index, (n_phi, n_eta) in enumerate(layer_shapes):
        x = inp = keras.Input((n_phi, n_eta, 1), name=f"layer_{index}")
        for n_filters in filters:
            x = layers.Conv2D(n_filters, 3, padding="same", activation="relu")(x)
            pool = (2 if x.shape[1] >= 4 else 1, 2 if x.shape[2] >= 4 else 1)
            x = layers.MaxPooling2D(pool)(x)
        inputs.append(inp)
        branches.append(layers.Flatten()(x))
    if reproduce_back_layer_bug:
        branches[layer_names.index("back")] = branches[layer_names.index("middle")]
    x = layers.Concatenate()(branches)
    for width in dense:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(n_classes, name="logits")(x), name="photon_jet_cnn")


@keras.saving.register_keras_serializable(package="analysis_lib")
class MaskedSum(layers.Layer):
    """Sum of per-point vectors over the points whose input features are not all zero,
    each weighted by feature ``weight_feature`` of its point when that is given."""

    def __init__(self, weight_feature=None, **kwargs):
        super().__init__(**kwargs)
        self.weight_feature = weight_feature

    def call(self, per_point, points):
        mask = ops.cast(ops.any(ops.not_equal(points, 0.0), axis=-1, keepdims=True), per_point.dtype)
        if self.weight_feature is not None:
            mask = mask * points[..., self.weight_feature:self.weight_feature + 1]
        return ops.sum(per_point * mask, axis=1)

    def get_config(self):
        return {**super().get_config(), "weight_feature": self.weight_feature}


def particle_flow_network(max_points, n_features, n_classes=3, phi_sizes=(128, 128, 64), f_sizes=(128, 64),
                          energy_weighted=None):
    """Deep Sets / PFN: F(sum_i Phi(p_i)) over the points of a cloud (logits out).

    Phi acts on each point alone (Dense on the last axis); the masked sum makes the
    output invariant under permutations of the points and blind to zero padding.
    The summed vector is the latent space (layer ``latent``).
    """
    points = keras.Input((max_points, n_features), name="points")
    x = points
    for width in phi_sizes:
        x = layers.Dense(width, activation="relu")(x)
    latent = MaskedSum(energy_weighted, name="latent")(x, points)
    y = latent
    for width in f_sizes:
        y = layers.Dense(width, activation="relu")(y)
    return keras.Model(points, layers.Dense(n_classes, name="logits")(y), name="particle_flow_network")


def submodel(model, input_layer, output_layer):
    """The part of ``model`` from the output of ``input_layer`` to ``output_layer``
    (e.g. a PFN's head F, from the latent sum to the logits), as a new model."""
    start = model.get_layer(input_layer)
    x = inp = keras.Input(start.output.shape[1:])
    seen = False
    for layer in model.layers:
        if layer is start:
            seen = True
            continue
        if seen:
            x = layer(x)
        if layer.name == output_layer:
            break
    return keras.Model(inp, x)


def cluster_regressor(n_inputs, n_outputs, hidden=(256, 128, 64), name="cluster_regressor"):
    """Multilayer perceptron from a flattened cluster (plus extra inputs) to the photons'
    (x, y, E) targets, linear outputs."""
    x = inputs = keras.Input((n_inputs,), name="cluster")
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(n_outputs, name="targets")(x), name=name)


def lednev_refiner(n_cluster_inputs, n_photons, hidden=(256, 128, 64), name="lednev_refiner"):
    """A network that starts from the Lednev fit and learns its corrections:

    output = fit + MLP(cluster inputs, fit),

    with the last layer initialised at zero, so training begins at the fit's own
    resolution and only moves where the data say the shower function is wrong
    (leakage, inclination, overlapping showers)."""
    cluster = keras.Input((n_cluster_inputs,), name="cluster")
    fit = keras.Input((3 * n_photons,), name="lednev_fit")
    x = layers.Concatenate()([cluster, fit])
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    correction = layers.Dense(3 * n_photons, kernel_initializer="zeros", name="correction")(x)
    return keras.Model([cluster, fit], layers.Add(name="targets")([fit, correction]), name=name)


def region_cnn(shape, n_photons, filters=(16, 32, 32), dense=(128, 64), name="region_cnn"):
    """ConvNet from the whole calorimeter region (n_y, n_x, 1), with the total energy,
    to the photons' absolute (x, y, E) targets: no cluster finding at all."""
    image = keras.Input(shape, name="region")
    total = keras.Input((1,), name="log_energy")
    x = image
    for i, width in enumerate(filters):
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        if i < len(filters) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Concatenate()([layers.Flatten()(x), total])
    for width in dense:
        x = layers.Dense(width, activation="relu")(x)
    return keras.Model([image, total], layers.Dense(3 * n_photons, name="targets")(x), name=name)


@keras.saving.register_keras_serializable(package="analysis_lib")
class PermutationInvariantLoss(keras.losses.Loss):
    """Loss for one photon, targets (x, y, E), or two, (x1, y1, E1, x2, y2, E2) in any order:

    L = min over the two orderings of mean_j rho((prediction_j - target_j) / scale_j),

    with ``scale`` the target resolution of (x, y, E), so each term counts in units
    of what the measurement is meant to reach. rho(r) = r^2, or with ``huber_delta``
    (twice) the Huber function, 2 delta |r| - delta^2 beyond delta, so that the few
    clusters where two showers cannot be told apart do not dominate the training.
    """

    def __init__(self, scale=(1.0, 1.0, 1.0), huber_delta=None, name="permutation_invariant_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = tuple(float(s) for s in scale)
        self.huber_delta = None if huber_delta is None else float(huber_delta)

    def _rho(self, r):
        if self.huber_delta is None:
            return ops.square(r)
        a, d = ops.abs(r), self.huber_delta
        return ops.where(a < d, ops.square(r), d * (2 * a - d))

    def call(self, y_true, y_pred):
        n_photons = y_true.shape[-1] // 3
        scale = ops.convert_to_tensor(self.scale * n_photons, dtype=y_pred.dtype)
        if n_photons == 1:
            return ops.mean(self._rho((y_pred - y_true) / scale), axis=1)
        swapped = ops.concatenate([y_true[:, 3:6], y_true[:, 0:3]], axis=1)
        direct = ops.mean(self._rho((y_pred - y_true) / scale), axis=1)
        crossed = ops.mean(self._rho((y_pred - swapped) / scale), axis=1)
        return ops.minimum(direct, crossed)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "huber_delta": self.huber_delta}


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


def hybrid_photon_cnn(layer_shapes, n_scalars, filters=64, dense=64, noise=0.1, name="hybrid_photon_cnn"):
    """The photon-ID hybrid CNN: one convolutional branch per sampling (strips, middle,
    back; ``layer_shapes`` as (phi, eta)), flattened and merged with the scalar inputs,
    then a dense head with Gaussian noise as regulariser; two logits (jet, photon).

    Branches as in the original: selu, LeCun-normal weights, valid convolutions; the
    fine-grained strips pool along eta, middle and back along phi. The original used
    256 filters and 128 units; the head's last two layers here have selu too.
    """
    conv = dict(activation="selu", kernel_initializer="lecun_normal")
    design = {"strips": ((2, 2), (1, 2), (1, 2)), "middle": ((2, 2), (2, 1), (2, 1)), "back": ((2, 2), (2, 1), (2, 1))}
    inputs, branches = [], []
    for (layer, (k1, k2, pool)), shape in zip(design.items(), layer_shapes):
        x = image = keras.Input(tuple(shape) + (1,), name=layer)
        x = layers.Conv2D(filters, k1, **conv)(x)
        x = layers.MaxPooling2D(pool)(x)
        x = layers.Conv2D(filters, k2, **conv)(x)
        x = layers.MaxPooling2D(pool)(x)
        inputs.append(image)
        branches.append(layers.Flatten()(x))
    scalars = keras.Input((n_scalars,), name="scalars")
    x = layers.Concatenate()(branches + [scalars])
    for i in range(3):
        x = layers.Dense(dense, **conv)(x)
        x = layers.GaussianNoise(noise)(x) if i < 2 else x
    return keras.Model(inputs + [scalars], layers.Dense(2)(x), name=name)
