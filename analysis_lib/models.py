"""Keras 3 building blocks the studies' networks share, registered so that saved
models load again (``io.load_model`` imports this module). The networks themselves are
in the studies' modules, each small enough to read on one screen.

Contents: ``MaskedSum``, ``submodel``, ``PermutationInvariantLoss``.
"""

import keras
from keras import layers, ops


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
