"""Great Expectations 1.x, used offline: an in-memory context with analytics and progress
bars off, and one call that runs a suite on a DataFrame.

GX is imported here only, inside functions, so DAG files and the CLI start fast.
"""

from __future__ import annotations

import os
from typing import Any, cast

RESULT_FORMATS = ("BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE")


def gx_module() -> Any:
    """``great_expectations``, imported with usage statistics off (there is no network)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


def ephemeral_context() -> Any:
    gx = gx_module()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def run_suite(frame: Any, content: dict[str, Any], result_format: str) -> dict[str, Any]:
    """Run the suite ``content`` on a pandas DataFrame; GX's result as JSON-able dict."""
    gx = gx_module()
    context = ephemeral_context()
    batch = (
        context.data_sources.add_pandas("dhub")
        .add_dataframe_asset("version")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(**content))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="dhub", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    return cast(dict[str, Any], result.to_json_dict())


def load_result(stored: dict[str, Any]) -> Any:
    """A stored result as GX's own ``ExpectationSuiteValidationResult``."""
    gx_module()
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )

    return ExpectationSuiteValidationResultSchema().load(stored)
