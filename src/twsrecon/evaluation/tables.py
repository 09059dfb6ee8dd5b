"""The tables a hydrologist reads before trusting the scores: medians per Köppen–Geiger region and aridity class,
pairwise product comparisons, the months each score used, the summary and the demo's skill table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..regions.classes import MODEL_TYPES, REGIONS
from .aridity import CLASSES, class_names
from .ensemble import ENSEMBLE
from .scores import BASELINES, GRACE_PERIODS, METRICS, PERIOD_LONG, TRUTH_PERIODS

# --- aggregation ------------------------------------------------------------------------------------------


def read_scores(paths) -> dict[str, xr.Dataset]:
    out = {}
    for path in paths:
        with xr.open_dataset(path) as ds:
            out[ds.attrs["product"]] = ds.load()
    return out


def region_labels(koppen_path) -> tuple[np.ndarray, tuple[str, ...]]:
    """The GR*Ai*CE region name of every analysis cell ('' outside the 28 regions), and their order."""
    with xr.open_dataset(koppen_path) as ds:
        cls = ds["kg_class"].values.astype(int)
    name_of = {c: n for n, c in REGIONS.items()}
    names = np.array([""] + [name_of.get(c, "") for c in range(1, 31)], dtype=object)
    return names[np.clip(cls, 0, 30)], tuple(REGIONS)


def aridity_labels(aridity_path) -> tuple[np.ndarray, tuple[str, ...]]:
    with xr.open_dataset(aridity_path) as ds:
        codes = ds["aridity_class"].values
    return class_names(codes), CLASSES


def medians(scores: dict[str, xr.Dataset], labels: np.ndarray, order, group: str) -> pd.DataFrame:
    """Median of each metric per group, product and period (Mo et al. 2022, Table 1), plus 'all'; for a product
    with an interval, the share of its scored cell-months inside it (`coverage95`)."""
    rows = []
    flat = labels.ravel()
    for product, ds in scores.items():
        for period in ds["period"].values:
            values = {m: ds[m].sel(period=period).values.ravel() for m in METRICS}
            scored = np.isfinite(values["r"])
            for name in (*order, "all"):
                sel = scored & ((flat == name) if name != "all" else (flat != ""))
                if not sel.any():
                    continue
                row = {group: name, "product": product, "period": str(period), "cells": int(sel.sum())}
                if "months" in ds:
                    row["median_months"] = float(np.median(ds["months"].sel(period=period).values.ravel()[sel]))
                row.update({m: float(np.nanmedian(values[m][sel])) for m in METRICS})
                if "coverage95" in ds:  # pooled over the cell-months: a median of 11-month shares says little
                    cov = ds["coverage95"].sel(period=period).values.ravel()
                    months = ds["months"].sel(period=period).values.ravel()
                    ok = sel & np.isfinite(cov)
                    row["coverage95"] = float(np.sum(cov[ok] * months[ok]) / np.sum(months[ok])) if ok.any() else np.nan
                rows.append(row)
    cols = [group, "product", "period", "cells", "median_months", *METRICS, "coverage95"]
    return pd.DataFrame(rows, columns=cols)


def comparison_pairs(products) -> list[tuple[str, str, str]]:
    """(what, A, B) pairs: SIF vs noSIF, LSTM vs BiLSTM, each model vs the baselines and the BCNN."""
    p = list(products)
    pairs = []
    for a in ("LSTM", "BiLSTM"):
        if a in p and f"{a}noSIF" in p:
            pairs.append(("SIF vs noSIF", a, f"{a}noSIF"))
    for suffix in ("", "noSIF"):
        if f"LSTM{suffix}" in p and f"BiLSTM{suffix}" in p:
            pairs.append(("LSTM vs BiLSTM", f"LSTM{suffix}", f"BiLSTM{suffix}"))
    models = [m for m in p if m in MODEL_TYPES or m == ENSEMBLE]
    bcnns = [b for b in p if b.startswith("BCNN_")]
    for m in models + bcnns:
        for b in BASELINES:
            if b in p:
                pairs.append(("model vs baseline", m, b))
    for m in models:
        for b in bcnns:
            pairs.append(("reconstruction vs BCNN", m, b))
    return pairs


def compare(scores: dict[str, xr.Dataset], pairs) -> pd.DataFrame:
    """Per pair, period and metric: medians, median of the per-cell difference, share of cells A wins.

    Against GRACE, two products are compared only where they share a held-out design (the stored split):
    a BCNN test period and a reconstruction's test months are other months, not a comparison.
    """
    rows = []
    for what, a, b in pairs:
        sa, sb = scores[a], scores[b]
        same_design = sa.attrs.get("held_out_design") == sb.attrs.get("held_out_design")
        for period in sorted(set(sa["period"].values) & set(sb["period"].values)):
            if period in GRACE_PERIODS and not same_design:
                continue
            na = sa["months"].sel(period=period).values.ravel()
            nb = sb["months"].sel(period=period).values.ravel()
            for m in METRICS:
                va = sa[m].sel(period=period).values.ravel()
                vb = sb[m].sel(period=period).values.ravel()
                ok = np.isfinite(va) & np.isfinite(vb)
                if not ok.any():
                    continue
                better = va[ok] < vb[ok] if m in ("rmse", "nrmse") else va[ok] > vb[ok]
                rows.append({"comparison": what, "a": a, "b": b, "period": str(period), "metric": m,
                             "cells": int(ok.sum()), "months_a": int(na[ok].sum()), "months_b": int(nb[ok].sum()),
                             "same_months": bool(np.array_equal(na[ok], nb[ok])),
                             "median_a": float(np.median(va[ok])),
                             "median_b": float(np.median(vb[ok])),
                             "median_difference": float(np.median(va[ok] - vb[ok])),
                             "share_a_better": float(better.mean())})
    return pd.DataFrame(rows, columns=["comparison", "a", "b", "period", "metric", "cells", "months_a", "months_b",
                                       "same_months", "median_a", "median_b", "median_difference", "share_a_better"])


def scored_months(scores: dict[str, xr.Dataset]) -> pd.DataFrame:
    """Per product and period: its held-out design, the cells and cell-months it was scored on."""
    rows = []
    for product, ds in scores.items():
        for period in ds["period"].values:
            n = ds["months"].sel(period=period).values.ravel()
            n = n[n > 0]
            rows.append({"product": product, "period": str(period),
                         "months_and_reference": PERIOD_LONG.get(str(period), str(period)),
                         "held_out_design": ds.attrs.get("held_out_design", ""),
                         "cells": int(n.size), "cell_months": int(n.sum()),
                         "median_months_per_cell": float(np.median(n)) if n.size else 0.0})
    return pd.DataFrame(rows, columns=["product", "period", "months_and_reference", "held_out_design", "cells",
                                       "cell_months", "median_months_per_cell"])


def evaluation_tables(scores: dict[str, xr.Dataset], koppen_path, aridity_path) -> dict[str, pd.DataFrame]:
    """Rule evaluation_tables, by output name: median skill per Köppen–Geiger region and per aridity class, the
    pairwise product comparisons and the months each score used."""
    regions, region_order = region_labels(koppen_path)
    classes, class_order = aridity_labels(aridity_path)
    return {"by_region": medians(scores, regions, region_order, "region"),
            "by_aridity": medians(scores, classes, class_order, "aridity_class"),
            "comparisons": compare(scores, comparison_pairs(scores)),
            "scored_months": scored_months(scores)}

def summary_table(scores: dict[str, xr.Dataset], periods, metrics=("r", "nse")) -> pd.DataFrame:
    """Median over all cells of each metric per product (rows) and period (columns 'PCC test', ...)."""
    short = {"r": "PCC", "nse": "NSE", "kge": "KGE", "rmse": "RMSE", "nrmse": "NRMSE"}
    rows = {}
    for product, ds in scores.items():
        row = {}
        for period in periods:
            for m in metrics:
                values = ds[m].sel(period=period).values if period in ds["period"].values else np.array([np.nan])
                row[f"{short[m]} {period}"] = float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan
        rows[product] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def skill_table(scores: dict[str, xr.Dataset], classes: np.ndarray, order) -> pd.DataFrame:
    """The demo's skill benchmark: median skill of every product against the true TWSA per aridity class
    (and over all cells), by period, then class; the products keep the workflow's order."""
    truth_scores = {p: ds.sel(period=[x for x in ds["period"].values if x in TRUTH_PERIODS])
                    for p, ds in scores.items()}
    table = medians(truth_scores, classes, order, "aridity_class")
    table["period"] = pd.Categorical(table["period"], list(TRUTH_PERIODS))
    table["aridity_class"] = pd.Categorical(table["aridity_class"], [*order, "all"])
    return table.sort_values(["period", "aridity_class"], kind="stable")
