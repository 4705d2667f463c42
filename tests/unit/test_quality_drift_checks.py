"""Drift flags what PSI and JS hardly see: a few injected nulls and a few out-of-range
numbers in a small table (178 rows, the wine data's size)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from digitalhub_airflow.errors import DriftError, InvalidOptionError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.quality.drift import (
    Thresholds,
    compare_versions,
    pooled,
    psi_bins,
    raise_for_drift,
)

KEY = "store://demo/dataitem/table/wine"


def wine(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 178
    frame = pd.DataFrame(
        {
            "alcohol": rng.normal(13.0, 0.8, n).round(2),
            "malic_acid": rng.normal(2.3, 1.1, n).round(2).clip(0.7, 5.8),
            "hue": rng.normal(0.95, 0.2, n).round(3),
            "cultivar": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.loc[[0, 1], "malic_acid"] = [0.7, 5.8]  # the reference range, exactly
    return frame


def test_injected_nulls_and_out_of_range_values_are_flagged(ehub: DataHub) -> None:
    clean = wine()
    v1 = ehub.commit(KEY, clean).version
    shuffled = ehub.commit(KEY, clean.sample(frac=1.0, random_state=1)).version
    broken = clean.copy()
    broken.loc[[5, 50, 90], "alcohol"] = np.nan
    broken.loc[[7, 60, 100], "malic_acid"] = [58.0, -40.0, 99.0]
    v3 = ehub.commit(KEY, broken).version

    same = compare_versions(ehub, v1.key, shuffled.key)
    assert same["status"] == "ok", same["columns"]

    report = compare_versions(ehub, v1.key, v3.key)
    columns = {c["name"]: c for c in report["columns"]}
    alcohol, malic = columns["alcohol"], columns["malic_acid"]
    assert alcohol["null_increase"] == pytest.approx(3 / 178)
    assert alcohol["checks"]["nulls"] == "warn" and alcohol["status"] != "ok"
    assert malic["out_of_range"]["count"] == 3
    assert malic["out_of_range"]["share"] == pytest.approx(3 / 178)
    assert malic["out_of_range"]["range"] == [0.7, 5.8]
    assert malic["checks"]["range"] == "warn" and malic["status"] != "ok"
    assert columns["hue"]["status"] == "ok" and columns["cultivar"]["status"] == "ok"
    assert report["status"] != "ok"

    strict = Thresholds(null_increase_fail=0.01, out_of_range_fail=0.01)
    with pytest.raises(DriftError) as caught:
        raise_for_drift(compare_versions(ehub, v1.key, v3.key, strict))
    assert sorted(caught.value.columns) == ["alcohol", "malic_acid"]
    assert "alcohol nulls 0.0% -> 1.7%" in str(caught.value)
    assert "malic_acid 3 values (1.7%) outside [0.7, 5.8]" in str(caught.value)

    off = Thresholds(null_increase_warn=None, out_of_range_warn=None, psi_warn=None)
    assert compare_versions(ehub, v1.key, v3.key, off)["status"] == "ok"


def test_dates_that_move_forward_are_not_out_of_range(ehub: DataHub) -> None:
    days = pd.date_range("2024-01-01", periods=178, freq="D")
    v1 = ehub.commit(KEY, pd.DataFrame({"at": days})).version
    v2 = ehub.commit(KEY, pd.DataFrame({"at": days + pd.Timedelta(days=30)})).version
    report = compare_versions(ehub, v1.key, v2.key)
    (column,) = report["columns"]
    assert column["out_of_range"] is None and "range" not in column["checks"]


def test_a_negative_null_threshold_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="null_increase_warn"):
        Thresholds(null_increase_warn=-0.1)


def test_two_small_samples_of_one_distribution_are_ok_and_a_shift_fails(ehub: DataHub) -> None:
    """178 rows in 20 bins: PSI of two samples of one distribution averages ~0.2 (warn
    or fail though nothing moved); pooled into 4 bins it is noise-free enough to grade ok."""
    for seed in range(5):
        v1 = ehub.commit(KEY, wine(seed)).version
        v2 = ehub.commit(KEY, wine(seed + 100)).version
        same = compare_versions(ehub, v1.key, v2.key)
        assert same["status"] == "ok", (seed, same["columns"])
        psi_columns = [c for c in same["columns"] if c["metric"] == "psi"]
        assert len(psi_columns) == 3 and all(c["psi_bins"] == 4 for c in psi_columns)
    stronger = wine(7)
    stronger["alcohol"] += 0.8  # one standard deviation
    v3 = ehub.commit(KEY, stronger).version
    report = compare_versions(ehub, v1.key, v3.key)
    alcohol = next(c for c in report["columns"] if c["name"] == "alcohol")
    assert alcohol["checks"]["distribution"] == "fail" and report["status"] == "fail"


def test_pooling_keeps_bins_contiguous_and_large_samples_keep_every_bin() -> None:
    assert psi_bins(178, 20) == 4 and psi_bins(100_000, 20) == 20 and psi_bins(10, 20) == 4
    reference, current = [10, 0, 30, 20, 20, 20], [1, 2, 3, 4, 5, 6]
    assert pooled(reference, current, 2) == ([40, 60], [6, 15])
    assert pooled(reference, current, 6) == (reference, current)
