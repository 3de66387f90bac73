"""Rectangular cut menus: a 'Tight'-like photon identification, optimised per |eta| bin.

A menu keeps an event when every variable passes its cut (``x <= cut`` for a variable
where photons sit low, ``x >= cut`` where they sit high). In each |eta| bin the cuts
are tuned on a training sample to keep ``target_efficiency`` of the photons while
rejecting as much background as possible: starting from open cuts, tighten one
variable at a time (by ``step`` in its photon quantile), always the one that removes
the most background per photon lost, until the target is reached.
(TMVA's rectangular-cut optimiser does the same job; it is not available in Python.)
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import EmptyDatasetError, ParameterError


@dataclass
class CutMenu:
    """Cuts per |eta| bin: ``cuts[b][variable]``; ``keep_below[variable]`` gives the side."""

    variables: tuple
    keep_below: dict
    eta_edges: np.ndarray
    cuts: list = field(default_factory=list)

    def passes(self, features, abs_eta):
        """Boolean array: which events pass the menu of their |eta| bin (False outside the bins)."""
        abs_eta = np.asarray(abs_eta, float)
        index = np.digitize(abs_eta, self.eta_edges) - 1
        result = np.zeros(len(abs_eta), bool)
        for b, cuts in enumerate(self.cuts):
            in_bin = index == b
            result[in_bin] = _passes(features, cuts, self.keep_below, in_bin)
        return result


def _passes(features, cuts, keep_below, selected):
    ok = np.ones(int(selected.sum()), bool)
    for name, cut in cuts.items():
        values = np.asarray(features[name])[selected]
        ok &= values <= cut if keep_below[name] else values >= cut
    return ok


def _cut_at(values, efficiency, below):
    """The cut keeping ``efficiency`` of ``values`` on the given side."""
    return np.quantile(values, efficiency if below else 1 - efficiency)


def optimise_cut_menu(signal, background, signal_eta, background_eta, eta_edges, keep_below, target_efficiency=0.85,
                      step=0.005):
    """Tune a ``CutMenu`` on dicts of per-event variables (signal and background) so that it
    keeps ``target_efficiency`` of the signal in each |eta| bin with the most background
    rejected."""
    variables = tuple(keep_below)
    if not 0 < target_efficiency <= 1:
        raise ParameterError(f"the target efficiency must be in (0, 1], got {target_efficiency}")
    eta_edges = np.asarray(eta_edges, float)
    menu = CutMenu(variables, dict(keep_below), eta_edges)
    s_index = np.digitize(np.asarray(signal_eta, float), eta_edges) - 1
    b_index = np.digitize(np.asarray(background_eta, float), eta_edges) - 1
    for b in range(len(eta_edges) - 1):
        s_in, b_in = s_index == b, b_index == b
        if s_in.sum() < 20 or b_in.sum() < 20:
            raise EmptyDatasetError(f"|eta| bin {eta_edges[b]:g}-{eta_edges[b + 1]:g} has {int(s_in.sum())} signal and "
                                    f"{int(b_in.sum())} background events; a cut menu needs at least 20 of each")
        s_values = {v: np.asarray(signal[v], float)[s_in] for v in variables}
        b_values = {v: np.asarray(background[v], float)[b_in] for v in variables}

        def efficiencies(trial):
            s_ok = np.all([s_values[v] <= c if keep_below[v] else s_values[v] >= c for v, c in trial.items()], axis=0)
            b_ok = np.all([b_values[v] <= c if keep_below[v] else b_values[v] >= c for v, c in trial.items()], axis=0)
            return s_ok.mean(), b_ok.mean()

        # greedy tightening from an open menu: each step tightens the variable that removes the
        # most background per photon lost, until another step would fall below the target
        level = {v: 1.0 for v in variables}
        cuts = {v: _cut_at(s_values[v], 1.0, keep_below[v]) for v in variables}
        current = efficiencies(cuts)
        while True:
            best = None
            for v in variables:
                if level[v] - step <= 0:
                    continue
                trial = dict(cuts, **{v: _cut_at(s_values[v], level[v] - step, keep_below[v])})
                signal_eff, background_eff = efficiencies(trial)
                if signal_eff < target_efficiency:
                    continue
                gain = (current[1] - background_eff) / max(current[0] - signal_eff, 1e-6)
                if best is None or gain > best[0]:
                    best = (gain, v, trial, (signal_eff, background_eff))
            if best is None:
                break
            _, v, cuts, current = best
            level[v] -= step
        menu.cuts.append(cuts)
    return menu
