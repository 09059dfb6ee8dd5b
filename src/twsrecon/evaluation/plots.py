"""Figures of the evaluation, as PNG on plain lat/lon axes.

Every figure names its quantity with units (axis or colour bar) and its period in the title. Maps of real
data get coastlines contoured from the 1 km GLOBE land mask that the PyPI package `global-land-mask` ships
(nothing is downloaded at run time); without that package, or on the synthetic demo world, the map says so
instead of drawing coastlines.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from ..data.io.netcdf import atomic_output  # noqa: E402
from .metrics import Z95  # noqa: E402

METRIC_STYLE = {"r": ("Pearson correlation r (1)", "RdYlBu", -1, 1),
                "nse": ("Nash–Sutcliffe efficiency NSE (1)", "RdYlBu", -1, 1),
                "kge": ("Kling–Gupta efficiency KGE (1)", "RdYlBu", -1, 1),
                "rmse": ("RMSE of TWSA (cm)", "viridis", 0, None), "nrmse": ("NRMSE (1, RMSE / range)", "viridis", 0, None)}
METRIC_SHORT = {"r": "PCC", "nse": "NSE", "kge": "KGE", "rmse": "RMSE", "nrmse": "NRMSE"}
TWSA_LABEL = "TWSA (cm, liquid water equivalent)"


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


def coastlines(ax, lon, lat, draw: bool) -> str | None:
    """Coastlines over a lat/lon map from the land mask of `global-land-mask` (GLOBE, 1 km, shipped in the
    wheel); returns a note instead where none are drawn (demo world, package missing)."""
    if not draw:
        return "demo world: synthetic land, no coastlines"
    try:
        from global_land_mask import globe
    except ImportError:
        return "no coastlines: the package global-land-mask is not installed"
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    pad = 0.5 * max(abs(np.diff(lon[:2])).max(initial=0), abs(np.diff(lat[:2])).max(initial=0))
    lon0, lon1 = max(-180.0, lon.min() - pad), min(180.0, lon.max() + pad)
    lat0, lat1 = max(-90.0, lat.min() - pad), min(90.0, lat.max() + pad)
    step = max(1 / 120, (lon1 - lon0) / 1200, (lat1 - lat0) / 1200)  # ~1200 samples across, at most 1 km
    glon = np.clip(np.arange(lon0, lon1 + step / 2, step), -180.0, 180.0)
    glat = np.clip(np.arange(lat0, lat1 + step / 2, step), -90.0, 90.0)
    land = globe.is_land(glat[:, None], glon[None, :]).astype(float)
    if 0 < land.mean() < 1:
        ax.contour(glon, glat, land, levels=[0.5], colors="k", linewidths=0.5)
    return None


def _map(ax, da: xr.DataArray, cmap, vmin, vmax, title, coast=False):
    im = ax.pcolormesh(da["lon"], da["lat"], da.values, cmap=cmap, vmin=vmin, vmax=vmax, shading="nearest")
    note = coastlines(ax, da["lon"].values, da["lat"].values, coast)
    ax.set_xlim(float(da["lon"].min()) - 0.5 * _step(da["lon"]), float(da["lon"].max()) + 0.5 * _step(da["lon"]))
    ax.set_ylim(float(da["lat"].min()) - 0.5 * _step(da["lat"]), float(da["lat"].max()) + 0.5 * _step(da["lat"]))
    if note:
        ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=6.5, color="0.3", va="bottom")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect("equal")
    return im


def _step(coord) -> float:
    values = np.asarray(coord, float)
    return float(np.abs(np.diff(values)).min()) if values.size > 1 else 1.0


def score_maps(scores: dict[str, xr.Dataset], metric: str, period: str, description: str, path,
               coast: bool = False) -> None:
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
        im = _map(ax, da, cmap, vmin, vmax, f"{product} (median {med:.2f})", coast)
    fig.colorbar(im, ax=list(axes), label=f"{label}, per cell", shrink=0.8)
    fig.suptitle(f"{METRIC_SHORT[metric]} per cell, period {period}: {description}")
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
        ax.set_ylabel(label, fontsize=9)
        if vmax is not None:
            ax.set_ylim(max(vmin, -1.5) if metric != "r" else -1, vmax)
        ax.set_xticks(np.arange(len(groups)), groups, rotation=60 if group == "region" else 0, ha="right"
                      if group == "region" else "center", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[-1, 0].set_xlabel("Köppen–Geiger region" if group == "region" else "aridity class (P/PET)")
    axes[0, 0].legend(ncol=min(4, max(1, len(products))), fontsize=8, loc="lower left")
    axes[0, 0].set_title(f"Per-cell skill per {group}, period {period}: {description}")
    save(fig, path)


def timeseries(region: str, series: dict[str, xr.DataArray], band: "RegionalBand | None", path,
               reference: xr.DataArray | None = None, gap=None) -> None:
    """Regional mean TWSA of every product with the BCNN's band for the regional mean, GRACE, the truth."""
    fig, ax = plt.subplots(figsize=(11, 4.4), constrained_layout=True)
    timeseries_axes(ax, region, series, band, reference, gap, legend_cols=3)
    save(fig, path)


def _period(*arrays) -> str:
    times = np.concatenate([np.asarray(a["time"].values) for a in arrays if a is not None and a.sizes.get("time")])
    return f"{str(times.min())[:7]}…{str(times.max())[:7]}" if times.size else "no months"


def timeseries_axes(ax, region, series, band, reference=None, gap=None, legend_cols=4) -> None:
    colours = plt.get_cmap("tab10")
    if band is not None:
        lo = (band.mean - Z95 * band.std_independent).values
        hi = (band.mean + Z95 * band.std_independent).values
        upper = float(np.nanmedian(Z95 * band.std_correlated.values)) if np.isfinite(band.std_correlated).any() \
            else float("nan")
        ax.fill_between(band.mean["time"].values, lo, hi, color="tab:orange", alpha=0.35, lw=0,
                        label=f"{band.name} 95 % interval of the regional mean, cells independent (lower bound; "
                              f"fully correlated: ±{upper:.1f} cm)")
    for k, (name, s) in enumerate(series.items()):
        ax.plot(s["time"].values, s.values, lw=1.0, label=name, color=colours((k + 2) % 10))
    if reference is not None:
        ax.plot(reference["time"].values, reference.values, "k.", ms=2.5, label=reference.name or "GRACE")
    if gap is not None:
        ax.axvspan(np.datetime64(gap[0]), np.datetime64(gap[1]), color="grey", alpha=0.15, label="mission gap")
    ax.set_ylabel(f"regional mean {TWSA_LABEL}", fontsize=9)
    ax.set_xlabel("month")
    ax.set_title(f"{region}: area-weighted regional mean TWSA, {_period(reference, *series.values())}")
    ax.legend(ncol=legend_cols, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.grid(alpha=0.3)


def field_maps(fields: list[tuple[xr.DataArray, str, str, str, float | None, float | None]], title: str, path,
               coast: bool = False) -> None:
    """Maps side by side, each (field, panel title, quantity with units for its colour bar, colormap, vmin, vmax)."""
    fig, axes = _panels(len(fields), aspect=_aspect(fields[0][0]))
    for ax, (da, panel, label, cmap, vmin, vmax) in zip(axes, fields):
        field_axes(fig, ax, da, label, cmap, vmin, vmax, coast, title=panel)
    fig.suptitle(title)
    save(fig, path)


def field_axes(fig, ax, da, label, cmap, vmin=None, vmax=None, coast=False, title=None):
    """One map with its colour bar naming the quantity and its units (`label`)."""
    if vmin is None and vmax is None and cmap == "RdBu_r":  # diverging: symmetric around 0
        lim = float(np.nanmax(np.abs(da.values))) if np.isfinite(da.values).any() else 1.0
        vmin, vmax = -lim, lim
    im = _map(ax, da, cmap, vmin, vmax, title or label, coast)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)


def skill_table_axes(ax, table, title) -> None:
    """A table of median skills drawn as text (product rows, period × metric columns)."""
    ax.axis("off")
    cells = [[("—" if not np.isfinite(v) else f"{v:.2f}") for v in row] for row in table.to_numpy(float)]
    tab = ax.table(cellText=cells, rowLabels=list(table.index), colLabels=list(table.columns), loc="center",
                   cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.scale(1.0, 1.25)
    ax.set_title(title, fontsize=10)


def summary(table, table_title: str, gap_map: tuple[xr.DataArray, str, str], region: str, series, band,
            reference, gap, path, coast=False) -> None:
    """The report's first screen: median skill, the gap-fill map and one regional time series."""
    fig = plt.figure(figsize=(15, 9.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.15, 1], width_ratios=[1.1, 1])
    skill_table_axes(fig.add_subplot(grid[0, 0]), table, table_title)
    da, label, title = gap_map
    field_axes(fig, fig.add_subplot(grid[0, 1]), da, label, "RdBu_r", coast=coast, title=title)
    timeseries_axes(fig.add_subplot(grid[1, :]), region, series, band, reference, gap, legend_cols=3)
    fig.suptitle("Summary of the run", fontsize=13)
    save(fig, path)


def gap_means(path, *names) -> tuple[list[xr.DataArray], int, str]:
    """The gap-filled record's variables `names` averaged over its mission-gap months, with the number of those
    months and their span (the gap maps' titles say both)."""
    with xr.open_dataset(path) as ds:
        gap = ds["mission_gap"].values == 1
        means = [ds[name].isel(time=gap).mean("time").load() for name in names]
        span = f"{str(ds['time'].values[gap][0])[:7]}…{str(ds['time'].values[gap][-1])[:7]}"
    return means, int(gap.sum()), span
