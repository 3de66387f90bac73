"""Explanations of trained models: SHAP values and latent-space correlations.

SHAP's promise is additivity: for every event, the attributions of all inputs add up
to the model output minus its average over the background sample. The tests check it.
"""

import numpy as np


def tree_shap(model, features):
    """Exact TreeSHAP of an XGBoost classifier on the margin (log-odds) scale.

    Returns (values (events, features, classes), expected value per class), with
    values.sum(axis=1) + expected == model.predict(features, output_margin=True).
    """
    import shap

    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(features))
    if values.ndim == 2:  # binary model: one output
        values = values[..., None]
    return values, np.atleast_1d(explainer.expected_value)


def deep_shap(model, background, inputs):
    """DeepSHAP (DeepLIFT with a background sample) of a Keras model's outputs.

    Returns (values shaped like ``inputs`` plus a class axis, expected value per class).
    """
    import shap

    explainer = shap.DeepExplainer(model, background)
    values = explainer.shap_values(inputs, check_additivity=False)
    return np.asarray(values), np.atleast_1d(np.asarray(explainer.expected_value))


def gradient_shap(model, background, inputs, n_samples=50, seed=0):
    """Expected-gradients SHAP of a Keras model (one array per model input)."""
    import shap

    explainer = shap.GradientExplainer(model, background, local_smoothing=0)
    return explainer.shap_values(inputs, nsamples=n_samples, rseed=seed)


def latent_correlations(latent, variables):
    """For each physics variable, the latent unit with the largest |Pearson r|.

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
                     "live_units": int(alive.sum())})
    return rows
