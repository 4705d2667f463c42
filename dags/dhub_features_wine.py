"""Features: the wine table -> validated (GX suite) -> engineered features (Python) ->
per-class aggregate (SQL).

Every transform pins its inputs to exact versions when it starts and is cached on
(input versions, code digest, parameters): run this DAG again on the same data and
no transform computes anything; each run records the cache hit. ``dhub lineage`` on
the aggregate shows the whole chain back to the raw version.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag

from digitalhub_airflow.operators import SqlTransformOperator, dataset_transform
from digitalhub_airflow.operators.quality import ValidateDatasetOperator

WINE = "store://demo/dataitem/table/wine"
FEATURES = "store://demo/dataitem/table/wine-features"
BY_CLASS = "store://demo/dataitem/table/wine-by-class"

AGGREGATE = f"""
SELECT target AS class,
       count(*) AS samples,
       round(avg(alcohol), 3) AS mean_alcohol,
       round(avg(phenol_ratio), 3) AS mean_phenol_ratio,
       round(avg(color_per_hue), 3) AS mean_color_per_hue
FROM ds('{FEATURES}')
GROUP BY target
ORDER BY target
"""


def wine_features(wine: Any, scale: float = 1.0) -> Any:
    """Ratios that separate the cultivars better than the raw measurements."""
    return wine.assign(
        phenol_ratio=wine["flavanoids"] / wine["total_phenols"] * scale,
        color_per_hue=wine["color_intensity"] / wine["hue"] * scale,
    )


@dag(schedule=None, catchup=False, tags=["dhub", "demo", "lineage"], doc_md=__doc__)
def dhub_features_wine() -> None:
    validate = ValidateDatasetOperator(
        task_id="validate_wine", dataset=WINE, suite="suites/wine-raw.json", on_failure="fail"
    )
    # The features read exactly the version that passed validation, not whatever is latest.
    validated = "{{ ti.xcom_pull(task_ids='validate_wine')['version'] }}"
    features = dataset_transform(FEATURES, inputs={"wine": validated})(wine_features)
    aggregate = SqlTransformOperator(
        task_id="wine_by_class",
        query=AGGREGATE,
        target=BY_CLASS,
        message="per-class means of the wine features",
    )
    validate >> features(scale=1.0) >> aggregate


dhub_features_wine()
