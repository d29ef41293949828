"""One compiled graph per spec hash, shared by runs that each bring their own services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from agents import compiler
from agents.compiler import compiled_graph
from agents.runner import execute_run, start_run
from agents.trace import load_trace
from forgeyard.models import RunStatus
from tests.support.runs import ScriptedModel, desk_spec


def test_two_runs_share_the_compiled_graph_and_each_sees_its_own_services(sqlite_db):
    loaded = desk_spec()
    graph = compiled_graph(loaded)
    carriers = ["MDOU", "MSCU", "CMDU", "HLCU"]
    runs = [start_run(loaded, {"a": i + 1}) for i in range(len(carriers))]
    seen: dict[str, list[str]] = {run.id: [] for run in runs}

    def execute(index: int):  # type: ignore[no-untyped-def]
        run = runs[index]
        return execute_run(
            run.id,
            model=ScriptedModel(carriers[index], name=f"model-{index}"),  # type: ignore[arg-type]
            on_step=lambda step, run_id=run.id: seen[run_id].append(step.run_id),
        )

    # At once, in threads, as a threads worker runs them.
    with ThreadPoolExecutor(len(runs)) as pool:
        finished = list(pool.map(execute, range(len(runs))))
    for index, run in enumerate(finished):
        assert run.status == RunStatus.succeeded, run.error
        assert run.output == {"end": "done", "carrier": carriers[index], "a": index + 1}
        trace = load_trace(run.id)
        assert {s.model for s in trace if s.kind == "llm"} == {f"model-{index}"}
        # Each run's recorder (and its on_step) saw only that run's steps.
        assert seen[run.id] == [run.id] * len(trace)
    assert compiled_graph(loaded) is graph
    assert compiler._graphs.get(loaded.hash) is graph
