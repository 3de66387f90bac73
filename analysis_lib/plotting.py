"""Plots the notebooks share: calorimeter layer images and a consistent style."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm


def use_style():
    """HEP style (mplhep) with figure sizes that fit a book page."""
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"figure.figsize": (7, 4.5), "font.size": 12, "axes.titlesize": 12,
                         "axes.labelsize": 12, "legend.fontsize": 10, "savefig.bbox": "tight"})


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
