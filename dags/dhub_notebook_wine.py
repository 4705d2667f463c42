"""From notebook to pipeline: a notebook as a task, and its function as a transform.

``notebooks/wine_features.ipynb`` is where the feature was written and explored. This
DAG uses it twice, without changing it:

1. **The notebook as a task** (``RunNotebookOperator``): parameters are injected after
   its cell tagged ``parameters`` (papermill-style), it runs in a fresh kernel whose
   environment carries the catalog and store settings and this task's run
   (``DHUB_RUN``): the version it commits with ``DataHub.from_settings()`` is recorded as
   produced by this task. The task reports that version as its output (catalog run,
   OpenLineage, Asset event) and commits the executed notebook, outputs included, to
   ``demo/wine-features-notebook`` (a ``files`` dataset) under the same run.
2. **The notebook's function as a transform**: ``function_from_notebook(path, name)``
   executes only the cell that defines ``add_ratio`` in a fresh module and returns the
   function as written; ``@dataset_transform`` runs it like any module-level function
   (pinned input, cache on input version + the function's source + parameters). Keep
   that cell self-contained: imports inside it or inside the function, nothing from
   other cells. Edit the function in the notebook and the transform's code digest
   changes with it.

Both read the latest ``wine`` (``dhub_ingest_wine``) and compute the same table: the
two outputs have the same content, hence the same version id.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import dag

from digitalhub_airflow.notebooks.functions import function_from_notebook
from digitalhub_airflow.operators import RunNotebookOperator, dataset_transform

WINE = "store://demo/dataitem/table/wine"
NOTEBOOK = Path(__file__).parent / "notebooks" / "wine_features.ipynb"

#: The function of the notebook's cell, unchanged.
add_ratio = function_from_notebook(NOTEBOOK, "add_ratio")


@dag(schedule=None, catchup=False, tags=["dhub", "demo", "notebook"], doc_md=__doc__)
def dhub_notebook_wine() -> None:
    run_notebook = RunNotebookOperator(
        task_id="run_notebook",
        notebook="notebooks/wine_features.ipynb",  # beside this file
        parameters={
            "source": WINE,
            "target": "demo/wine-ratios-notebook",
            "numerator": "flavanoids",
            "denominator": "total_phenols",
        },
        output_dataset="demo/wine-features-notebook",
        message="wine_features.ipynb, executed by {{ run_id }}",
        timeout=300,
    )
    ratio = dataset_transform("store://demo/dataitem/table/wine-ratios", inputs={"wine": WINE})(
        add_ratio
    )
    run_notebook >> ratio(numerator="flavanoids", denominator="total_phenols")


dhub_notebook_wine()
