"""Figures of the evaluation, as PNG with plain lat/lon axes (no map data to download)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from .io.netcdf import atomic_output  # noqa: E402

METRIC_STYLE = {"r": ("PCC", "RdYlBu", -1, 1), "nse": ("NSE", "RdYlBu", -1, 1), "kge": ("KGE", "RdYlBu", -1, 1),
                "rmse": ("RMSE (cm)", "viridis", 0, None), "nrmse": ("NRMSE", "viridis", 0, None)}


def save(fig, path) -> None:
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def _panels(n, width=4.2, height=None, aspect=1.0):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    height = height or width * aspect
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.6), squeeze=False,
                             constrained_layout=True)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _aspect(da):
    return max(0.3, min(1.5, da.sizes["lat"] / da.sizes["lon"]))


def _map(ax, da: xr.DataArray, cmap, vmin, vmax, title):
    im = ax.pcolormesh(da["lon"], da["lat"], da.values, cmap=cmap, vmin=vmin, vmax=vmax, shading="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect("equal")
    return im


def score_maps(scores: dict[str, xr.Dataset], metric: str, period: str, description: str, path) -> None:
    """One panel per product: the per-cell metric for one period."""
    label, cmap, vmin, vmax = METRIC_STYLE[metric]
    items = [(p, ds[metric].sel(period=period)) for p, ds in scores.items() if period in ds["period"].values]
    if not items:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, f"no product scored on '{period}'", ha="center", va="center")
        ax.axis("off")
        return save(fig, path)
    first = items[0][1]
    fig, axes = _panels(len(items), aspect=_aspect(first))
    im = None
    for ax, (product, da) in zip(axes, items):
        med = float(np.nanmedian(da.values)) if np.isfinite(da.values).any() else float("nan")
        im = _map(ax, da, cmap, vmin, vmax, f"{product} (median {med:.2f})")
    fig.colorbar(im, ax=list(axes), label=label, shrink=0.8)
    fig.suptitle(f"{label}: {description}")
    save(fig, path)


def boxplots(scores: dict[str, xr.Dataset], labels: np.ndarray, order, period: str, description: str,
             group: str, path, metrics=("r", "nse")) -> None:
    """Per-cell metric distributions per group (region or aridity class), one box per product."""
    products = [p for p, ds in scores.items()  # products without a score in the period (BCNN before GRACE) left out
                if period in ds["period"].values and np.isfinite(ds[metrics[0]].sel(period=period).values).any()]
    groups = [g for g in order if (labels == g).any()]
    width = min(24.0, max(8.0, 2 + 0.12 * len(groups) * max(1, len(products))))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(width, 3.6 * len(metrics)), squeeze=False,
                             constrained_layout=True)
    box = 0.8 / max(1, len(products))
    colours = plt.get_cmap("tab10")
    flat = labels.ravel()
    for ax, metric in zip(axes[:, 0], metrics):
        for k, product in enumerate(products):
            values = scores[product][metric].sel(period=period).values.ravel()
            data = [values[(flat == g) & np.isfinite(values)] for g in groups]
            pos = np.arange(len(groups)) + (k - (len(products) - 1) / 2) * box
            keep = [i for i, d in enumerate(data) if len(d)]
            if keep:
                bp = ax.boxplot([data[i] for i in keep], positions=pos[keep], widths=box * 0.9, patch_artist=True,
                                showfliers=False, manage_ticks=False)
                for patch in bp["boxes"]:
                    patch.set_facecolor(colours(k % 10))
            ax.plot([], [], "s", color=colours(k % 10), label=product)
        label, _, vmin, vmax = METRIC_STYLE[metric]
        ax.set_ylabel(label)
        if vmax is not None:
            ax.set_ylim(max(vmin, -1.5) if metric != "r" else -1, vmax)
        ax.set_xticks(np.arange(len(groups)), groups, rotation=60 if group == "region" else 0, ha="right"
                      if group == "region" else "center", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=min(4, max(1, len(products))), fontsize=8, loc="lower left")
    axes[0, 0].set_title(f"per {group}: {description}")
    save(fig, path)


def timeseries(region: str, series: dict[str, xr.DataArray], band: tuple[str, xr.DataArray, xr.DataArray] | None,
               path, reference: xr.DataArray | None = None, gap=None) -> None:
    """Regional mean TWSA of every product, the BCNN's 95 % band, GRACE (and the truth on the demo)."""
    fig, ax = plt.subplots(figsize=(11, 3.8), constrained_layout=True)
    if band is not None:
        name, mean, std = band
        ax.fill_between(mean["time"].values, (mean - 1.96 * std).values, (mean + 1.96 * std).values,
                        color="tab:orange", alpha=0.3, lw=0, label=f"{name} 95 % interval")
    for k, (name, s) in enumerate(series.items()):
        ax.plot(s["time"].values, s.values, lw=1.0, label=name, color=plt.get_cmap("tab10")((k + 2) % 10))
    if reference is not None:
        ax.plot(reference["time"].values, reference.values, "k.", ms=2.5, label=reference.name or "GRACE")
    if gap is not None:
        ax.axvspan(np.datetime64(gap[0]), np.datetime64(gap[1]), color="grey", alpha=0.15, label="mission gap")
    ax.set_ylabel("TWSA (cm)")
    ax.set_title(f"{region}: area-weighted regional mean")
    ax.legend(ncol=4, fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    save(fig, path)


def field_maps(fields: list[tuple[xr.DataArray, str, str, float | None, float | None]], title: str, path) -> None:
    """Maps side by side, each (field, label, colormap, vmin, vmax) with its own colour bar."""
    fig, axes = _panels(len(fields), aspect=_aspect(fields[0][0]))
    for ax, (da, label, cmap, vmin, vmax) in zip(axes, fields):
        if vmin is None and vmax is None and cmap == "RdBu_r":  # diverging: symmetric around 0
            lim = float(np.nanmax(np.abs(da.values))) if np.isfinite(da.values).any() else 1.0
            vmin, vmax = -lim, lim
        im = _map(ax, da, cmap, vmin, vmax, label)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    save(fig, path)
