"""The Airflow provider around the operators: provider info, the ``store://`` Asset URI
handler, Assets, what a task read and wrote, and its OpenLineage facets."""
