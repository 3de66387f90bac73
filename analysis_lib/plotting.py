"""Plots the notebooks share: a consistent style, grids of panels a book page can show,
calorimeter layer images, training histories, confusion matrices, rejection curves, and
the residuals and resolutions of a regression study.

Every figure a notebook shows after ``use_style`` has its text drawn large enough to stay legible
where the book shows it widest-fitted (``legible_text``), and carries, in its PNG's metadata, the
height in pixels of its smallest text as drawn (``reporting.SMALLEST_FONT_KEY``): the book's
finisher and its browser test scale it by the width the figure is shown at.

Contents: ``use_style``, ``smallest_font_px``, ``legible_text``, ``panel_grid``, ``plot_layers``, ``plot_history``,
``plot_confusion``, ``plot_rejection_curves``, ``plot_residuals``, ``plot_resolution_in_bins``.
"""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.text import Text

from .fitting import core_widths_in_bins
from .reporting import FULL_WIDTH_PX, LEGIBLE_TEXT_PX, SMALLEST_FONT_KEY, publishable_tables


def use_style():
    """HEP style (mplhep) with figure sizes that fit a book page, and the book's tables
    (``reporting.publishable_tables``)."""
    import mplhep

    publishable_tables()
    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"figure.figsize": (7, 4.5), "font.size": 12, "axes.titlesize": 12,
                         "axes.labelsize": 12, "legend.fontsize": 10, "savefig.bbox": "tight"})
    _tag_figures_with_their_smallest_font()


def _png_dpi(fig):
    return fig.dpi if mpl.rcParams["savefig.dpi"] == "figure" else mpl.rcParams["savefig.dpi"]


def legible_text(fig, shown_px=FULL_WIDTH_PX, margin=1.1):
    """Enlarge every text of ``fig`` smaller than the size that stays ``LEGIBLE_TEXT_PX`` high
    when the figure, drawn ``width_px`` = width in inches x dpi wide, is shown at most
    ``shown_px`` wide (the book's full-width box at 1366 px):

        size_pt >= margin * LEGIBLE_TEXT_PX * 72 / dpi * max(1, width_px / shown_px)

    (``margin`` for the tight bounding box, a little wider than the figure). A 16-inch row of
    panels so needs 11-point text, a 7-inch figure 7 points. Tick labels are set per axis, so
    ticks drawn later match."""
    dpi = _png_dpi(fig)
    floor_pt = margin * LEGIBLE_TEXT_PX * 72 / dpi * max(1.0, fig.get_figwidth() * dpi / shown_px)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if any(label.get_fontsize() < floor_pt for label in axis.get_ticklabels(which="both")):
                axis.set_tick_params(which="both", labelsize=floor_pt)
    for text in fig.findobj(Text):
        if text.get_fontsize() < floor_pt:
            text.set_fontsize(floor_pt)


def smallest_font_px(fig, dpi=None):
    """The height in pixels of the smallest text a figure draws (its size in points times
    ``dpi`` / 72; ``dpi`` by default the one its PNG is saved at), or None for a figure
    without text. Only texts with characters in shown axes count (``panel_grid`` hides the
    unused panels of its last row)."""
    dpi = dpi or _png_dpi(fig)
    sizes = [text.get_fontsize() for text in fig.findobj(Text) if text.get_visible() and text.get_text().strip()
             and (text.axes is None or text.axes.get_visible())]
    return min(sizes) * dpi / 72.0 if sizes else None


def _tag_figures_with_their_smallest_font():
    """Let the kernel's PNG of every figure have ``legible_text`` and carry ``smallest_font_px`` in
    its metadata. IPython takes (data, metadata) from a formatter, so the inline backend's own PNG
    is kept."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # a plain Python process: nothing displays
        return
    plt.close(plt.figure())  # pyplot loads its backend with the first figure; the inline one then registers its PNG
    png = shell.display_formatter.formatters["image/png"]
    drawn = png.lookup_by_type(Figure) if Figure in png.type_printers else None
    if drawn is None or getattr(drawn, "tags_smallest_font", False):
        return

    def with_smallest_font(fig):
        legible_text(fig)
        data = drawn(fig)
        found = smallest_font_px(fig)
        return data if data is None or found is None else (data, {SMALLEST_FONT_KEY: round(found, 2)})

    with_smallest_font.tags_smallest_font = True
    png.for_type(Figure, with_smallest_font)


def panel_grid(n_panels, columns=2, panel_inches=(6.0, 4.0), **subplots):
    """A figure of ``n_panels`` panels in rows of ``columns``, each ``panel_inches`` (width,
    height) large. A book page is about 1000 px wide (100 px an inch): a row of many panels
    would shrink each below legibility, so wide sets of panels wrap into rows. Returns the
    figure and the list of its used axes (the unused ones of the last row are hidden)."""
    rows = -(-n_panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel_inches[0] * columns, panel_inches[1] * rows),
                             squeeze=False, **subplots)
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n_panels])


def plot_layers(images, detector, title=None, axes=None, log=True, unit="MeV"):
    """Show one image per layer (list of 2-D arrays, phi x eta) with angles on the axes."""
    if axes is None:
        _, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.0), constrained_layout=True)
    for ax, image, layer in zip(axes, images, detector.layers):
        positive = image[image > 0]
        norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max()) if (
            log and positive.size) else None
        extent = (layer.eta_edges_rad[0], layer.eta_edges_rad[-1], layer.phi_edges_rad[0], layer.phi_edges_rad[-1])
        shown = np.where(image > 0, image, np.nan) if norm is not None else image
        artist = ax.imshow(shown, origin="lower", aspect="auto", extent=extent, norm=norm, cmap="viridis",
                           interpolation="nearest")
        ax.set_title(f"{layer.name} {layer.n_phi}x{layer.n_eta}", fontsize=10)
        ax.set_xlabel(r"$\eta$-like angle [rad]", fontsize=9)
        ax.set_ylabel(r"$\phi$-like angle [rad]", fontsize=9)
        ax.tick_params(labelsize=8)
        plt.colorbar(artist, ax=ax, label=unit)
    if title:
        axes[0].figure.suptitle(title)
    return axes


def plot_history(history, ax=None, title=None):
    """Training and validation loss per epoch, from a Keras history dict."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], "o-", label="training")
    ax.plot(epochs, history["val_loss"], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_confusion(matrix, classes, ax=None, title=None):
    """Row-normalised confusion matrix with the fractions written in the cells, two decimals in
    the axis labels' size, so that a matrix shown at half its drawn width still reads."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.6 else "black", fontsize=12)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.minorticks_off()
    if title:
        ax.set_title(title)
    return ax


def plot_rejection_curves(curves, ax=None, title=None):
    """Background rejection 1/eps_b against signal efficiency, one curve per model.

    ``curves`` maps a label to (signal efficiency, background efficiency) arrays.
    """
    if ax is None:
        _, ax = plt.subplots()
    for label, (eff_s, eff_b) in curves.items():
        keep = eff_b > 0
        ax.plot(eff_s[keep], 1.0 / eff_b[keep], label=label)
    ax.set_yscale("log")
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background rejection 1/eps_b")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


#: What each residual of ``metrics.photon_residuals`` measures.
RESIDUAL_LABELS = {"x": "x [mm]", "y": "y [mm]", "e": "E/E_true - 1"}


def plot_residuals(residuals, spans=(8.0, 8.0, 0.08), bins=80):
    """Histograms (``hist``, drawn by mplhep) of the x, y and energy residuals of each
    method, ``residuals`` being {method: ``metrics.photon_residuals``}, each within
    +-span (mm, mm, fraction). Returns the figure and its three axes."""
    import hist
    import mplhep

    fig, axes = panel_grid(3, columns=3, panel_inches=(5.0, 3.8))
    for ax, key, span in zip(axes, "xye", spans):
        for name, values in residuals.items():
            counts = hist.Hist(hist.axis.Regular(bins, -span, span, name=key)).fill(values[key])
            mplhep.histplot(counts, ax=ax, label=name)
        ax.set_xlabel(f"residual {RESIDUAL_LABELS[key]}")
        ax.set_ylabel("photons")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig, axes


def plot_resolution_in_bins(residuals, variable, edges, xlabel, log_x=False):
    """Position (x) and energy resolution of each method against ``variable`` (one value
    per photon, binned by ``edges``): Gaussian core widths with their errors
    (``fitting.core_widths_in_bins``). Returns the figure and its two axes."""

    fig, axes = panel_grid(2, columns=2, panel_inches=(6.0, 4.0))
    for name, values in residuals.items():
        for ax, key in zip(axes, "xe"):
            centres, sigma, error = core_widths_in_bins(values[key], variable, edges)
            ax.errorbar(centres, sigma, error, fmt="o-", label=name)
    for ax, label in zip(axes, ["σ_x [mm]", "σ_E / E"]):
        ax.set_xscale("log" if log_x else "linear")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig, axes
