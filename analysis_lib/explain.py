"""Explanations of trained models: SHAP values, latent-space correlations and gradient
maps of image classifiers, with the randomisation test of those maps.

SHAP's promise is additivity: for every event, the attributions of all inputs add up
to the model output minus its average over the background sample. The tests check it.
Gradient maps: Grad-CAM and saliency / SmoothGrad from tf-keras-vis; integrated
gradients, guided backpropagation, guided Grad-CAM and rectified gradients written
here (tf-keras-vis has none of them). A map that survives the randomisation of the
network's weights shows the image, not the decision (Adebayo et al. 2018).

Contents: ``import_shap``, ``tree_shap``, ``deep_shap``, ``gradient_shap``, ``latent_correlations``,
``grad_cam``, ``saliency``, ``rank_correlation``, ``logit_model``,
``integrated_gradients``, ``guided_backprop``, ``guided_grad_cam``,
``rectified_gradients``, ``randomised_copy``.
"""

import contextlib
import warnings

import numpy as np


def tree_shap(model, features):
    """Exact TreeSHAP of an XGBoost classifier on the margin (log-odds) scale.

    Returns (values (events, features, classes), expected value per class), with
    values.sum(axis=1) + expected == model.predict(features, output_margin=True).
    """
    shap = import_shap()
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(features))
    if values.ndim == 2:  # binary model: one output
        values = values[..., None]
    return values, np.atleast_1d(explainer.expected_value)


def deep_shap(model, background, inputs):
    """DeepSHAP (DeepLIFT with a background sample) of a Keras model's outputs.

    Returns (values shaped like ``inputs`` plus a class axis, expected value per class).
    """
    shap = import_shap()
    with _quiet_shap():
        explainer = shap.DeepExplainer(model, background)
        values = explainer.shap_values(inputs, check_additivity=False)
    return np.asarray(values), np.atleast_1d(np.asarray(explainer.expected_value))


def gradient_shap(model, background, inputs, n_samples=50, seed=0):
    """Expected-gradients SHAP of a Keras model (one array per model input)."""
    shap = import_shap()
    explainer = shap.GradientExplainer(model, background, local_smoothing=0)
    with _quiet_shap():
        return explainer.shap_values(inputs, nsamples=n_samples, rseed=seed)


def latent_correlations(latent, variables):
    """For each physics variable, the latent unit with the largest |Pearson r|, and that
    r's error (1 - r^2) / sqrt(n - 1) (``metrics.correlation_and_error``): the error of
    one unit's r; picking the largest of many units lifts |r| by about that much when
    no unit truly correlates.

    ``latent`` is (events, units); ``variables`` a dict of (events,) arrays. Units
    that never fire (zero variance) are left out. Returns a list of dicts.
    """
    latent = np.asarray(latent, dtype=np.float64)
    alive = latent.std(axis=0) > 0
    z = (latent[:, alive] - latent[:, alive].mean(0)) / latent[:, alive].std(0)
    units = np.flatnonzero(alive)
    rows = []
    for name, values in variables.items():
        v = (values - values.mean()) / (values.std() or 1.0)
        r = (z * v[:, None]).mean(axis=0)
        best = int(np.argmax(np.abs(r)))
        rows.append({"variable": name, "unit": int(units[best]), "pearson_r": float(r[best]),
                     "pearson_r_error": float((1 - r[best] ** 2) / np.sqrt(len(latent) - 1)),
                     "live_units": int(alive.sum())})
    return rows


# -- gradient maps of image classifiers (the LArTPC study) ----------------------------------
# Grad-CAM, vanilla saliency and SmoothGrad come from tf-keras-vis; integrated gradients,
# guided backpropagation and rectified gradients are not in it and are written here.
def _score(class_index):
    from tf_keras_vis.utils.scores import CategoricalScore

    return CategoricalScore(list(np.atleast_1d(class_index)))


@contextlib.contextmanager
def _quiet_shap():
    # shap warns that TensorFlow > 2.4 runs eagerly (its DeepExplainer handles that; the
    # tests check additivity), and its tqdm.auto bars want ipywidgets, which the book lacks
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your TensorFlow version is newer than 2.4.0", category=UserWarning)
        warnings.filterwarnings("ignore", category=TqdmWarning)
        with _quiet_keras_inputs():  # shap too calls one-input models with a list
            yield


def import_shap():
    """The shap module, imported without the warning its progress bars give where
    ipywidgets is missing (the book renders no widgets)."""
    with _quiet_shap():
        import shap
    return shap


@contextlib.contextmanager
def _quiet_keras_inputs():
    # tf-keras-vis calls a one-input model with a list of one array; Keras 3 warns that the
    # structure differs, though it unpacks it to the same call
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        yield


def grad_cam(model, images, class_index, layer_name):
    """Grad-CAM (tf-keras-vis): ReLU of the feature maps of ``layer_name`` weighted by
    their mean gradient of the class logit, upsampled to the image, scaled to [0, 1]."""
    from tf_keras_vis.gradcam import Gradcam

    # tf-keras-vis's ReplaceToLinear needs Model.output_names, gone in Keras 3: strip softmax here
    cam = Gradcam(logit_model(model), clone=False)
    with _quiet_keras_inputs():
        return np.asarray(cam(_score(class_index), images, penultimate_layer=layer_name))


def saliency(model, images, class_index, smooth_samples=0, smooth_noise=0.2, seed=0):
    """|d logit / d pixel| (tf-keras-vis), max over channels, scaled to [0, 1]; with
    ``smooth_samples`` > 0 SmoothGrad, the mean over noisy copies (noise as a fraction
    of each image's value range, drawn with ``seed``: the same maps every run)."""
    from tf_keras_vis.saliency import Saliency

    method = Saliency(logit_model(model), clone=False)
    # tf-keras-vis draws SmoothGrad's noise from NumPy's global generator: seeded for this
    # call, and the caller's own state given back afterwards
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with _quiet_keras_inputs():
            return np.asarray(method(_score(class_index), images, smooth_samples=smooth_samples,
                                     smooth_noise=smooth_noise))
    finally:
        np.random.set_state(state)


def rank_correlation(map_a, map_b):
    """Spearman rank correlation of |map_a| and |map_b|, the similarity of the
    randomisation test (Adebayo et al. 2018); NaN where either map is constant (a map
    that is zero everywhere ranks nothing)."""
    from scipy.stats import spearmanr

    a, b = np.abs(np.asarray(map_a)).ravel(), np.abs(np.asarray(map_b)).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan
    return float(spearmanr(a, b)[0])


def logit_model(model, hidden_relu=None):
    """A copy of ``model`` whose last layer outputs logits (softmax removed) and whose
    hidden ReLUs are replaced by ``hidden_relu`` (a function with a custom gradient), if given."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        activation = getattr(layer, "activation", None)
        if activation is None:
            continue
        if layer is copy.layers[-1] and activation.__name__ == "softmax":
            layer.activation = keras.activations.linear
        elif hidden_relu is not None and activation.__name__ == "relu":
            layer.activation = hidden_relu
    return copy


def _class_gradients(model, images, class_index):
    import tensorflow as tf

    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        selected = tf.gather(logits, np.broadcast_to(np.atleast_1d(class_index), (len(images),)), axis=1, batch_dims=1)
    return tape.gradient(selected, x).numpy(), selected.numpy()


def integrated_gradients(model, images, class_index, baseline=None, steps=50, points_per_call=64):
    """(x - x') * integral_0^1 d logit(x' + a (x - x')) / dx da (trapezoid rule, ``steps``
    intervals), with x' the ``baseline`` (zeros by default). Completeness: the
    attributions of an image add up to logit(x) - logit(x'). Returns (attributions,
    logit(x) - logit(x'))."""
    images = np.asarray(images, np.float32)
    baseline = np.zeros_like(images) if baseline is None else np.broadcast_to(baseline, images.shape).astype(np.float32)
    logits = logit_model(model)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2
    alphas = np.linspace(0, 1, steps + 1)
    per_image = np.broadcast_to(np.atleast_1d(class_index), (len(images),))
    total = np.zeros_like(images)
    chunk = max(1, points_per_call // len(images))  # several points of the path per call: one call costs little more
    for start in range(0, steps + 1, chunk):
        a = alphas[start:start + chunk].reshape((-1, 1) + (1,) * images.ndim).astype(np.float32)
        path = (baseline[None] + a * (images - baseline)[None]).reshape((-1,) + images.shape[1:])
        gradient, _ = _class_gradients(logits, path, np.tile(per_image, len(a)))
        w = weights[start:start + chunk].reshape((-1,) + (1,) * images.ndim)
        total += (w * gradient.reshape((len(a),) + images.shape)).sum(axis=0)
    _, at_image = _class_gradients(logits, images, class_index)
    _, at_baseline = _class_gradients(logits, baseline, class_index)
    return (images - baseline) * total, at_image - at_baseline


def _guided_relu():
    import tensorflow as tf

    @tf.custom_gradient
    def guided_relu(x):
        def gradient(upstream):  # only positive gradients through active units
            return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

        return tf.nn.relu(x), gradient

    return guided_relu


def _rectified_relu(percentile):
    import tensorflow as tf

    @tf.custom_gradient
    def rectified_relu(x):
        y = tf.nn.relu(x)

        def gradient(upstream):  # RectGrad: keep units whose activation x gradient is in the top percent
            importance = tf.reshape(y * upstream, [tf.shape(y)[0], -1])
            ordered = tf.sort(importance, axis=1)
            n = tf.shape(ordered)[1]
            index = tf.cast(tf.round(percentile / 100.0 * tf.cast(n - 1, tf.float32)), tf.int32)
            threshold = tf.reshape(ordered[:, index], [-1] + [1] * (len(y.shape) - 1))
            return upstream * tf.cast(y * upstream > threshold, upstream.dtype)

        return y, gradient

    return rectified_relu


def guided_backprop(model, images, class_index):
    """Guided backpropagation: the input gradient of the class logit with every ReLU
    passing back only positive gradients of active units (fine-grained, class-blind-ish)."""
    gradient, _ = _class_gradients(logit_model(model, _guided_relu()), images, class_index)
    return gradient


def guided_grad_cam(model, images, class_index, layer_name):
    """Guided Grad-CAM: guided backpropagation times the Grad-CAM map (max over channels
    of the guided gradients). The original returned the guided gradients alone."""
    guided = np.abs(guided_backprop(model, images, class_index)).max(axis=-1)
    return guided * grad_cam(model, images, class_index, layer_name)


def rectified_gradients(model, images, class_index, percentile=99.0, smooth_samples=0, smooth_noise=0.2, seed=0):
    """Rectified gradients (Kim et al. 2019): backpropagate through a ReLU only where
    activation x gradient exceeds its ``percentile`` over the layer, times the input;
    with ``smooth_samples``, averaged over noisy copies (RectGrad-SmoothGrad)."""
    images = np.asarray(images, np.float32)
    rectified = logit_model(model, _rectified_relu(float(percentile)))
    if smooth_samples <= 0:
        gradient, _ = _class_gradients(rectified, images, class_index)
        return gradient * images
    rng = np.random.default_rng(seed)
    spread = smooth_noise * (images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
                             - images.min(axis=tuple(range(1, images.ndim)), keepdims=True))
    total = np.zeros_like(images)
    for _ in range(smooth_samples):
        noisy = images + spread * rng.standard_normal(images.shape).astype(np.float32)
        gradient, _ = _class_gradients(rectified, noisy, class_index)
        total += gradient * noisy
    return total / smooth_samples


def randomised_copy(model, n_top_layers, seed=0):
    """A copy of ``model`` with the weights of its last ``n_top_layers`` weighted layers
    re-drawn (cascading model randomisation, Adebayo et al. 2018): maps that do not
    change are not explaining the trained model."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    weighted = [layer for layer in copy.layers if layer.trainable_weights]
    for layer in weighted[len(weighted) - n_top_layers:]:
        # only what training learnt: batch normalisation's moving mean and variance are
        # statistics of the data (a random variance could be negative: NaN everywhere)
        for variable in layer.trainable_weights:
            value = np.asarray(variable)
            variable.assign(rng.normal(0, np.std(value) + 1e-3, value.shape).astype(value.dtype))
    return copy
