"""The report's figures: learning curves and codebook health per arm, with bootstrap CIs."""

from pathlib import Path

import numpy as np


def plot_curves(arms: dict[str, list], key: str, ax, seed: int = 0,
                xlabel: str = "env steps") -> None:
    """Mean over runs at each step, with a 95% bootstrap CI of the mean (scipy)."""
    from scipy import stats

    for arm, rs in arms.items():
        steps = sorted({s for r in rs for s, _ in r.series(key)})
        table = [dict(r.series(key)) for r in rs]
        mean, low, high = [], [], []
        for step in steps:
            values = np.array([t[step] for t in table if step in t], dtype=float)
            mean.append(values.mean())
            if len(values) > 1 and np.ptp(values) > 0:
                ci = stats.bootstrap((values,), np.mean, confidence_level=0.95,
                                     n_resamples=1000, random_state=seed).confidence_interval
                low.append(ci.low), high.append(ci.high)
            else:
                low.append(values.mean()), high.append(values.mean())
        ax.plot(steps, mean, label=arm)
        ax.fill_between(steps, low, high, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)


def write_figures(arms: dict[str, list], sweep_dir: Path,
                  reference: tuple[str, float] | None = None,
                  xlabel: str = "env steps") -> list[Path]:
    """curves.png (eval return per arm, with `reference` (label, value) as a dashed line)
    and codebook.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_curves(arms, "eval/return", ax, xlabel=xlabel)
    if reference is not None:
        ax.axhline(reference[1], color="black", linestyle="--", linewidth=1, label=reference[0])
    ax.set_ylabel("eval return (mean, 95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    curves = sweep_dir / "curves.png"
    fig.savefig(curves, dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "quant/perplexity_frac", "perplexity / K"),
                           (axes[1], "quant/utilisation", "utilisation (window)")):
        plot_curves(arms, key, ax, xlabel=xlabel)
        ax.set_ylabel(label)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    codebook = sweep_dir / "codebook.png"
    fig.savefig(codebook, dpi=120)
    plt.close(fig)
    return [curves, codebook]
