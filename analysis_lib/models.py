"""Keras 3 models of the studies. Each builder returns an uncompiled ``keras.Model``
small enough to read on one screen."""

import keras
from keras import layers, ops


def photon_jet_cnn(layer_shapes, n_classes=3, reproduce_back_layer_bug=False, filters=(32, 16), dense=(64, 32)):
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
        branches[3] = branches[2]
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


@keras.saving.register_keras_serializable(package="analysis_lib")
class PermutationInvariantLoss(keras.losses.Loss):
    """Loss for two photons, targets (x1, y1, E1, x2, y2, E2) in any order:

    L = min over the two orderings of mean_j ((prediction_j - target_j) / scale_j)^2,

    with ``scale`` the target resolution of (x, y, E), so each term counts in units
    of what the measurement is meant to reach.
    """

    def __init__(self, scale=(1.0, 1.0, 1.0), name="permutation_invariant_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = tuple(float(s) for s in scale)

    def call(self, y_true, y_pred):
        scale = ops.convert_to_tensor(self.scale * 2, dtype=y_pred.dtype)
        swapped = ops.concatenate([y_true[:, 3:6], y_true[:, 0:3]], axis=1)
        direct = ops.mean(ops.square((y_pred - y_true) / scale), axis=1)
        crossed = ops.mean(ops.square((y_pred - swapped) / scale), axis=1)
        return ops.minimum(direct, crossed)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
