"""Wine features, defined once (Feast objects) and applied by `dhub features apply`.

The source names a catalog dataset by key: each apply or materialisation resolves it to
an exact version's Parquet files. `wine_service` is what training sets are built from and
what `dhub serve --features` looks features up in.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

wine = Entity(name="wine", join_keys=["wine_id"], value_type=ValueType.INT64)

wine_orders = FileSource(
    name="wine_orders",
    path="store://demo/dataitem/table/wine-orders",
    timestamp_field="event_timestamp",
)

wine_measurements = FeatureView(
    name="wine_measurements",
    entities=[wine],
    ttl=timedelta(days=3650),
    source=wine_orders,
    schema=[
        Field(name="alcohol", dtype=Float64),
        Field(name="malic_acid", dtype=Float64),
        Field(name="flavanoids", dtype=Float64),
        Field(name="color_intensity", dtype=Float64),
        Field(name="hue", dtype=Float64),
        Field(name="proline", dtype=Float64),
    ],
)

wine_service = FeatureService(name="wine_service", features=[wine_measurements])
