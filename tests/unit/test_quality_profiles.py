"""Profiles equal statistics computed independently here with numpy and pandas, and the
drift measures equal SciPy's."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from digitalhub_airflow.quality import profiles
from digitalhub_airflow.quality.drift import js_distance, psi
from digitalhub_airflow.quality.profiles import QUANTILES, compute_profile


@pytest.fixture
def known() -> pd.DataFrame:
    """Numbers with nulls, unicode strings with nulls, dates, booleans, integers."""
    rng = np.random.default_rng(7)
    n = 5000
    x = rng.normal(50, 12, n)
    x[rng.random(n) < 0.1] = np.nan
    words = np.array(["ä", "βeta", "日本", "plain", "emoji 🍷"], dtype=object)
    s = words[rng.integers(0, 5, n)]
    s[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "x": x,
            "s": s,
            "d": [dt.date(2024, 1, 1) + dt.timedelta(days=int(i)) for i in rng.integers(0, 366, n)],
            "k": rng.integers(0, 12, n),
            "b": rng.random(n) < 0.3,
            "u": np.arange(n),
        }
    )


def column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_numeric_profile_equals_numpy(known: pd.DataFrame) -> None:
    profile = compute_profile(pa.Table.from_pandas(known, preserve_index=False))
    x = known["x"].dropna().to_numpy()
    c = column(profile, "x")
    assert profile["row_count"] == len(known)
    assert c["kind"] == "numeric"
    assert c["count"] == len(x)
    assert c["nulls"] == known["x"].isna().sum()
    assert c["distinct"] == len(np.unique(x)) and c["distinct_exact"]
    assert c["min"] == x.min() and c["max"] == x.max()
    assert c["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert c["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert c["sum"] == pytest.approx(x.sum(), rel=1e-12)
    assert c["quantiles_exact"]
    for q in QUANTILES:
        assert c["quantiles"][str(q)] == pytest.approx(np.quantile(x, q), rel=1e-12)
    counts, edges = np.histogram(x, bins=profiles.HISTOGRAM_BINS)
    assert c["histogram"]["counts"] == counts.tolist()
    assert c["histogram"]["edges"] == pytest.approx(edges.tolist(), rel=1e-12)
    assert "top_values" not in c  # floats are not counted one by one


def test_string_profile_counts_unicode_values_like_pandas(known: pd.DataFrame) -> None:
    profile = compute_profile(pa.Table.from_pandas(known, preserve_index=False))
    c = column(profile, "s")
    expected = known["s"].value_counts()
    assert c["kind"] == "string"
    assert c["nulls"] == known["s"].isna().sum()
    assert c["distinct"] == known["s"].nunique() == 5
    assert {v["value"]: v["count"] for v in c["top_values"]} == expected.to_dict()
    assert [v["count"] for v in c["top_values"]] == sorted(expected.tolist(), reverse=True)


def test_dates_integers_and_booleans(known: pd.DataFrame) -> None:
    profile = compute_profile(pa.Table.from_pandas(known, preserve_index=False))
    d = column(profile, "d")
    assert d["kind"] == "temporal"
    assert d["min"] == min(known["d"]).isoformat() and d["max"] == max(known["d"]).isoformat()
    days = np.array([(v - dt.date(1970, 1, 1)).days * 86400.0 for v in known["d"]])
    counts, _ = np.histogram(days, bins=profiles.HISTOGRAM_BINS)
    assert d["histogram"]["counts"] == counts.tolist()
    assert d["histogram"]["edge_labels"][0].startswith(d["min"])
    k = column(profile, "k")
    assert {v["value"]: v["count"] for v in k["top_values"]} == known["k"].value_counts().to_dict()
    b = column(profile, "b")
    assert {v["value"]: v["count"] for v in b["top_values"]} == known["b"].value_counts().to_dict()
    u = column(profile, "u")
    assert u["distinct"] == len(known) and u["distinct_exact"]


def test_large_cardinality_uses_estimates_that_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "EXACT_DISTINCT_BOUND", 100)
    monkeypatch.setattr(profiles, "FREQUENCY_BOUND", 10)
    monkeypatch.setattr(profiles, "EXACT_QUANTILE_ROWS", 1000)
    values = np.arange(20_000, dtype="float64")
    profile = compute_profile(pa.table({"v": values}))
    c = column(profile, "v")
    assert not c["distinct_exact"] and not c["quantiles_exact"]
    assert c["distinct"] == pytest.approx(20_000, rel=0.05)  # HyperLogLog
    assert c["quantiles"]["0.5"] == pytest.approx(np.quantile(values, 0.5), rel=0.02)


def test_an_empty_table_has_a_profile() -> None:
    table = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    profile = compute_profile(table)
    assert profile["row_count"] == 0
    x = column(profile, "x")
    assert (x["count"], x["nulls"], x["min"], x["mean"], x["null_fraction"]) == (
        0,
        0,
        None,
        None,
        None,
    )
    assert "histogram" not in x


def test_psi_and_js_equal_independent_formulas() -> None:
    from scipy.spatial.distance import jensenshannon

    ref, cur = [10, 20, 30, 40], [25, 25, 25, 25]
    p, q = np.array(ref) / 100, np.array(cur) / 100
    assert psi(ref, cur) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi(ref, ref) == 0.0
    a, b = {"x": 3, "y": 1}, {"x": 1, "z": 3}
    keys = ["x", "y", "z"]
    expected = jensenshannon([a.get(k, 0) for k in keys], [b.get(k, 0) for k in keys], base=2)
    assert js_distance(a, b) == pytest.approx(float(expected))
    assert js_distance({"x": 1}, {"y": 1}) == pytest.approx(1.0)
    assert not math.isnan(psi([0, 5], [5, 0]))


def test_duckdb_parquet_reader_gives_the_same_profile(known: pd.DataFrame, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(known, preserve_index=False)
    table = table.append_column(
        "at",
        pa.array(np.datetime64("2024-01-01", "s") + np.arange(len(known)).astype("m8[m]")).cast(
            pa.timestamp("us", tz="UTC")
        ),
    )
    path = tmp_path / "known.parquet"
    pq.write_table(table, path)
    assert_same(compute_profile(table, parquet_files=[str(path)]), compute_profile(table))


def assert_same(found: object, expected: object) -> None:
    """Equal, floats to the last few bits (sums run in another order by another reader)."""
    if isinstance(expected, float) and isinstance(found, float):
        assert math.isclose(found, expected, rel_tol=1e-12), (found, expected)
    elif isinstance(expected, dict) and isinstance(found, dict):
        assert found.keys() == expected.keys()
        for k in expected:
            assert_same(found[k], expected[k])
    elif isinstance(expected, list) and isinstance(found, list):
        assert len(found) == len(expected)
        for f, e in zip(found, expected, strict=True):
            assert_same(f, e)
    else:
        assert found == expected


def parquet_of(table: pa.Table, tmp_path: Path) -> list[str]:
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(table, path, row_group_size=7_000)  # several row groups, several batches
    return [str(path)]


def test_fine_histogram_quantiles_stay_within_their_bound(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(profiles, "EXACT_QUANTILE_ROWS", 1000)
    rng = np.random.default_rng(3)
    x = rng.lognormal(3, 1, 20_000)
    table = pa.table({"x": x})
    profile = compute_profile(table, parquet_files=parquet_of(table, tmp_path))
    c = column(profile, "x")
    assert not c["quantiles_exact"] and c["quantile_method"] == "fine_histogram"
    assert c["quantile_error_bound"] == pytest.approx((x.max() - x.min()) / profiles.FINE_BINS)
    for q in QUANTILES:
        assert abs(c["quantiles"][str(q)] - np.quantile(x, q)) <= c["quantile_error_bound"]
    assert c["histogram"]["counts"] == np.histogram(x, bins=profiles.HISTOGRAM_BINS)[0].tolist()
    # the same bins, counted by DuckDB where there is no Parquet footer
    assert_same(profile, compute_profile(table))


def test_integers_over_a_wide_range_get_an_exact_distinct_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(profiles, "EXACT_DISTINCT_BOUND", 100)
    monkeypatch.setattr(profiles, "FREQUENCY_BOUND", 10)
    values = np.random.default_rng(5).integers(-50_000, 50_000, 30_000)
    table = pa.table({"v": values})
    c = column(compute_profile(table, parquet_files=parquet_of(table, tmp_path)), "v")
    assert c["distinct"] == len(np.unique(values)) and c["distinct_exact"]
    assert (c["min"], c["max"], c["sum"]) == (values.min(), values.max(), values.sum())
    assert c["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    # read off counts over the range: numpy's own values, to the last bit
    assert c["quantiles"] == {str(q): np.quantile(values, q) for q in QUANTILES}
    assert c["quantiles_exact"]


def test_numbers_outside_the_footer_range_are_counted_by_duckdb(tmp_path: Path) -> None:
    """NaN is left out of Parquet statistics: the pass sees it and leaves the column to
    DuckDB, whose profile is the one without a footer (no histogram: NaN has no bin)."""
    x = np.random.default_rng(9).normal(0, 1, 5000)
    x[::50] = np.nan
    table = pa.table({"x": pa.array(x, from_pandas=False)})
    assert table.column("x").null_count == 0
    from digitalhub_airflow.quality.number_scan import NumberColumn, scan_numbers

    files = parquet_of(table, tmp_path)
    ranges = profiles.footer_ranges(
        files, [profiles.column_plan("x", table.schema.field("x").type)]
    )
    assert ranges["x"] == (np.nanmin(x), np.nanmax(x))
    assert scan_numbers(files, {"x": NumberColumn(*ranges["x"], 20, False, 10)}) == {}
    profile = compute_profile(table, parquet_files=files)
    assert_same(profile, compute_profile(table))
    assert "histogram" not in column(profile, "x") and column(profile, "x")["count"] == 5000


def test_narrow_integers_profile_alike_with_and_without_a_footer(tmp_path: Path) -> None:
    values = np.random.default_rng(11).integers(-120, 120, 9_000).astype("int8")
    table = pa.table({"small": values, "wide": values.astype("int16") * 200})
    profile = compute_profile(table, parquet_files=parquet_of(table, tmp_path))
    assert_same(profile, compute_profile(table))
    small = column(profile, "small")
    assert {v["value"]: v["count"] for v in small["top_values"]}.items() <= dict(
        zip(*np.unique(values, return_counts=True), strict=True)
    ).items()
    assert small["distinct"] == len(np.unique(values))


def test_dates_of_every_unit_bin_alike_in_the_numpy_pass_and_duckdb(tmp_path: Path) -> None:
    """Dates and timestamps are binned by ``number_scan`` as epoch seconds; the same
    profile as DuckDB's ``epoch()`` bins where there is no footer."""
    from digitalhub_airflow.quality.number_scan import NumberColumn, scan_numbers

    rng = np.random.default_rng(13)
    seconds = np.datetime64("2023-03-01", "s") + rng.integers(0, 400 * 86400, 9_000).astype("m8[s]")
    table = pa.table(
        {
            "day": pa.array(seconds.astype("M8[D]")),
            "day64": pa.array(seconds.astype("M8[D]")).cast(pa.date64()),
            "s": pa.array(seconds),
            "ms": pa.array(seconds.astype("M8[ms]"), mask=rng.random(9_000) < 0.1),
            "ns": pa.array(seconds.astype("M8[ns]")).cast(pa.timestamp("ns", tz="UTC")),
        }
    )
    files = parquet_of(table, tmp_path)
    profile = compute_profile(table, parquet_files=files)
    assert_same(profile, compute_profile(table))
    plans = [profiles.column_plan(f.name, f.type) for f in table.schema]
    ranges = profiles.footer_ranges(files, plans)
    columns = {n: NumberColumn(*ranges[n], 20, False, 10, temporal=True) for n in ranges}
    assert sorted(scan_numbers(files, columns)) == sorted(table.column_names)
    counts = column(profile, "s")["histogram"]["counts"]
    assert counts == np.histogram(seconds.astype("int64"), bins=20)[0].tolist()


def test_strings_and_booleans_counted_in_the_pass_profile_as_duckdb_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Strings are counted off Parquet's dictionaries (each row group its own), booleans
    in the same pass; strings with more values than the frequency bound are left to
    DuckDB: the profile is DuckDB's own."""
    from digitalhub_airflow.quality.number_scan import ValueCounts, scan_numbers

    monkeypatch.setattr(profiles, "FREQUENCY_BOUND", 50)
    rng = np.random.default_rng(17)
    n = 20_000
    few = np.array([f"w{i}" for i in np.sort(rng.integers(0, 40, n))], dtype=object)
    few[rng.random(n) < 0.1] = None  # sorted: each row group holds a few of the values
    many = np.array([f"m{i}" for i in rng.integers(0, 5000, n)], dtype=object)
    flag = pa.array(rng.random(n) < 0.3, mask=rng.random(n) < 0.2)
    table = pa.table({"few": few, "many": many, "flag": flag})
    files = parquet_of(table, tmp_path)
    assert list(scan_numbers(files, {"few": ValueCounts(50), "many": ValueCounts(50)})) == ["few"]
    profile = compute_profile(table, parquet_files=files)
    assert_same(profile, compute_profile(table))
    expected = pd.Series(few).value_counts()
    c = column(profile, "few")
    assert (c["distinct"], c["nulls"]) == (len(expected), pd.Series(few).isna().sum())
    top = {v["value"]: v["count"] for v in c["top_values"]}
    assert top.items() <= expected.to_dict().items() and len(top) == profiles.TOP_VALUES
    assert c["other_count"] == expected.sum() - sum(top.values())
    assert column(profile, "many")["distinct"] == len(set(many))
    flags = {v["value"]: v["count"] for v in column(profile, "flag")["top_values"]}
    assert flags == flag.to_pandas().value_counts().to_dict()
