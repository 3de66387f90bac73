"""Rectangular cut menus optimised per |eta| bin."""

import numpy as np
import pytest

from analysis_lib.cuts import optimise_cut_menu
from analysis_lib.errors import EmptyDatasetError


def _sample(rng, n, shift):
    return {"width": rng.normal(1.0 + shift, 0.3 + 0.2 * shift, n), "ratio": rng.normal(0.9 - 0.2 * shift, 0.05, n),
            "useless": rng.normal(0.0, 1.0, n)}


def test_menu_keeps_the_target_efficiency_and_drops_a_useless_variable():
    rng = np.random.default_rng(4)
    signal, background = _sample(rng, 6000, 0.0), _sample(rng, 6000, 1.0)
    eta_s, eta_b = rng.uniform(0, 2.37, 6000), rng.uniform(0, 2.37, 6000)
    keep_below = {"width": True, "ratio": False, "useless": True}
    menu = optimise_cut_menu(signal, background, eta_s, eta_b, [0, 0.8, 1.37, 2.37], keep_below, 0.85)
    passed_s, passed_b = menu.passes(signal, eta_s), menu.passes(background, eta_b)
    for lo, hi in ((0, 0.8), (0.8, 1.37), (1.37, 2.37)):
        in_bin = (eta_s >= lo) & (eta_s < hi)
        assert 0.85 <= passed_s[in_bin].mean() < 0.88
    # the useless variable ends up nearly open; an equal split would have cut 5 % of photons on it
    for cuts in menu.cuts:
        assert np.mean(signal["useless"] <= cuts["useless"]) > 0.97
    equal = 0.85 ** (1 / 3)
    start_b = np.mean((background["width"] <= np.quantile(signal["width"], equal))
                      & (background["ratio"] >= np.quantile(signal["ratio"], 1 - equal))
                      & (background["useless"] <= np.quantile(signal["useless"], equal)))
    assert passed_b.mean() < start_b
    assert not menu.passes(signal, np.full(6000, 2.4)).any()  # outside the bins: no menu, no pass


def test_an_empty_eta_bin_is_refused():
    rng = np.random.default_rng(5)
    signal, background = _sample(rng, 500, 0.0), _sample(rng, 500, 1.0)
    with pytest.raises(EmptyDatasetError, match="1.37-1.52"):
        optimise_cut_menu(signal, background, rng.uniform(0, 1.37, 500), rng.uniform(0, 1.37, 500), [0, 1.37, 1.52],
                          {"width": True}, 0.9)
