"""PNG pictures of a run: learning curves, confusion matrix, accuracy versus SNR (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faultdx.atomic import atomic_file


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6.4, 4.0)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    return plt, fig, axes


def _save(plt, fig, path: str | Path) -> Path:
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def plot_learning_curves(records: Sequence[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch (train, val clean, val noisy when present)."""
    plt, fig, axes = _figure(1, 2, (10, 3.6))
    epochs = [r["epoch"] for r in records]
    loss_ax, acc_ax = axes[0]
    loss_ax.plot(epochs, [r["train_loss"] for r in records], label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in records], label="val")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    acc_ax.plot(epochs, [100 * r["train_acc"] for r in records], label="train (augmented)")
    acc_ax.plot(epochs, [100 * r["val_acc"] for r in records], label="val clean")
    if records and records[0].get("val_acc_noisy") is not None:
        snr = records[0].get("val_snr_db")
        acc_ax.plot(epochs, [100 * r["val_acc_noisy"] for r in records], label=f"val {snr:g} dB")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(plt, fig, path)


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts."""
    size = 1.0 + 0.55 * len(classes)
    plt, fig, axes = _figure(1, 1, (size + 1.5, size))
    ax = axes[0][0]
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros_like(confusion, dtype=float), where=rows > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if confusion[i, j]:
                color = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(plt, fig, path)


def plot_snr_sweep(
    snrs: Sequence[float], accuracies: Sequence[float], clean: float, path: str | Path
) -> Path:
    """Accuracy versus SNR, with the clean accuracy as a line."""
    plt, fig, axes = _figure()
    ax = axes[0][0]
    ax.plot(snrs, [100 * a for a in accuracies], marker="o", label="with AWGN")
    ax.axhline(100 * clean, color="gray", linestyle="--", label="clean")
    ax.set(xlabel="SNR (dB)", ylabel="test accuracy (%)", title="accuracy under white noise")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, path)
