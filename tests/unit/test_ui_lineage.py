"""The lineage drawing at scale: mapped task instances collapse, layers stay ordered."""

from __future__ import annotations

from digitalhub_airflow.plugins import graph_layout
from tests.ui_testlib import LINEAGE_ROOT as ROOT
from tests.ui_testlib import fan_in, render_lineage


def test_runs_of_a_mapped_task_are_one_node_with_a_count_until_expanded() -> None:
    graph = fan_in(mapped=30, inputs=3)
    collapsed = graph_layout.collapse(graph)
    [group] = [n for n in collapsed["nodes"] if n["type"] == "group"]
    assert (group["count"], group["task"], group["label"]) == (30, "d.split", "split x30")
    assert len(collapsed["nodes"]) == len(graph["nodes"]) - 29
    # Edges to the 30 runs merge; none points at a run that is no longer drawn.
    keys = {n["key"] for n in collapsed["nodes"]}
    assert all(e["source"] in keys and e["target"] in keys for e in collapsed["edges"])
    opened = graph_layout.collapse(graph, frozenset({"d.split"}))
    assert len(opened["nodes"]) == len(graph["nodes"])


def test_full_labels_are_in_the_tooltip_and_neighbours_line_up() -> None:
    graph = fan_in(mapped=4, inputs=4)
    graph["nodes"][0]["label"] = "a very long dataset name that cannot fit in a box v1"
    drawing = graph_layout.layout(
        graph_layout.collapse(graph, frozenset({"d.split"})), lambda n: None
    )
    placed = {n.key: n for n in drawing.nodes}
    assert placed[ROOT].label.endswith("…")
    assert placed[ROOT].title.startswith("a very long dataset name that cannot fit in a box v1")
    # Barycentre ordering: each part sits on the row of the run that made it.
    for i in range(4):
        part = placed[f"store://p/dataitem/table/part:{i:08x}"]
        run = placed[f"store://p/run/airflow/split:{i:08x}"]
        assert part.y == run.y


def test_a_500_node_graph_is_laid_out_and_rendered() -> None:
    graph = fan_in(mapped=166, inputs=166)  # 500 nodes, 498 edges
    assert len(graph["nodes"]) == 500
    for expand in (frozenset(), frozenset({"d.split"})):
        page, drawing = render_lineage(graph, expand)
        assert page.count('<g class="node') == len(drawing.nodes)
        assert page.count('marker-end="url(#arrow)"') == len(drawing.paths)
    assert len(drawing.nodes) == 500 and drawing.height < 500 * 80
