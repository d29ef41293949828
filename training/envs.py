"""One Gymnasium environment per workflow decision point.

:class:`NodeEnv` holds what they share: ``reset`` draws a task, runs the
workflow in a :class:`Sandbox` up to the node and observes the prompt the model
would see there; ``step`` takes the completion, runs the rest of the workflow
in the sandbox and scores the finished run with a reward function (by default
the shipped reward model, the same scoring recorded runs get).

:class:`ChooseEnv` is the ``choose`` node of ``logistics_booking`` (structured,
valid, non-denied tasks); :class:`~training.extract_env.ExtractEnv` its
``extract`` node.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Protocol

import gymnasium
import jsonschema
from gymnasium import spaces
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agents.compiler import build_graph, initial_state
from agents.nodes import OUTPUT, VISITS, NodeError
from rewards.example import Example
from rewards.loader import load_reward_spec_text
from rewards.model import RewardModel
from training.sandbox import Sandbox
from training.tasks import Task
from workflows.examples.logistics_booking.tasks import generate_tasks
from workflows.expressions import evaluate, render
from workflows.loader import load_spec
from workflows.spec import LLMNode, WorkflowSpec, resolve_output_schema

__all__ = ["ChooseEnv", "NodeEnv", "RewardCallable", "reward_model_reward"]

_ROOT = Path(__file__).resolve().parent.parent
LOGISTICS_SPEC = _ROOT / "workflows/examples/logistics_booking/workflow.yaml"
LOGISTICS_REWARD = _ROOT / "rewards/examples/logistics_booking/reward.yaml"

# Prompts and completions are printable ASCII plus the Latin-1 letters and the
# typographic marks carrier and party names or a model's prose may use.
CHARSET = string.printable + "".join(map(chr, range(0xA0, 0x180))) + "–—‘’“”…•→€"
MAX_PROMPT_CHARS = 8192
MAX_COMPLETION_CHARS = 1024
# Approvals in a sandbox are signed off by this name, never a person's.
SANDBOX_APPROVER = "sandbox"
# Opaque quote ids: no letters or digits that read alike (O/0, I/1).
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class RewardCallable(Protocol):
    """Scores a finished sandboxed run: ``(final_state, output, task) -> reward``.

    ``task.expected`` is ``None`` for a recorded run nobody supplied ground truth for.
    """

    def __call__(self, final_state: dict[str, Any], output: Any, task: Task) -> float: ...


class reward_model_reward:  # noqa: N801 - used like a function
    """A reward model (YAML spec) as a :class:`RewardCallable`.

    Callable class rather than a closure so the environment stays picklable.
    The run becomes an :class:`~rewards.example.Example` just as a recorded run
    does (final state, end output, the task's ground truth), so training and
    evaluation agree; a reward of ``None`` (no grader applies) counts as 0.
    """

    def __init__(self, path: str | Path = LOGISTICS_REWARD, *, source: str | None = None) -> None:
        self.path = str(path)
        # A stored version's text (``RewardModelRecord.source``); ``path`` then only
        # names it and anchors relative paths, as for ``rewards.store.loaded_spec``.
        self.source = source
        self._model: RewardModel | None = None

    @classmethod
    def from_record(cls, record: Any) -> reward_model_reward:
        """The reward of a stored version (a ``RewardModelRecord``), exactly as approved."""
        return cls(record.source_path or "<stored spec>", source=record.source)

    @property
    def model(self) -> RewardModel:
        if self._model is None:
            if self.source is None:
                self._model = RewardModel.from_path(self.path)
            else:
                self._model = RewardModel(load_reward_spec_text(self.source, filename=self.path))
        return self._model

    def __call__(self, final_state: dict[str, Any], output: Any, task: Task) -> float:
        total = self.model.reward(self.example(final_state, output, task))
        return 0.0 if total is None else float(total)

    @staticmethod
    def example(final_state: dict[str, Any], output: Any, task: Task) -> Example:
        """The finished sandboxed run as the :class:`Example` the reward model scores."""
        # Without ground truth only the graders that need none apply (docs/training.md).
        expected = None
        if task.expected is not None:
            expected = json.loads(json.dumps(asdict(task.expected)))
        return Example(
            id=task.task_id,
            output=output,
            state=final_state,
            expected=expected,
            input=task.input,
            completion=json.dumps(output) if output is not None else None,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "source": self.source, "_model": None}


def _choosable(task: Task) -> bool:
    e = task.expected
    if e is None:
        # A recorded run's input, taken because that run reached `choose`.
        return not task.free_text
    return (
        not task.free_text
        and e.valid
        and e.cleared is True
        and bool(e.eligible_quote_ids)
        and e.choice_quote_id is not None
    )


class NodeEnv(gymnasium.Env[str, str]):
    """One llm node of a workflow (:attr:`spec_path`) as a one-step episode; subclasses name it.

    ``reset`` draws a task the subclass :meth:`accepts`, runs the workflow in
    the sandbox up to :attr:`node` and observes the node's chat messages as
    text.  ``step`` parses the completion against the node's resolved output
    schema (an invalid one ends the episode with reward 0 and ``info["error"]``),
    writes it into the state as the node's output, runs the rest of the
    workflow in the sandbox — approvals signed off by the sandbox, the nodes in
    :attr:`answered` answered by :meth:`answer`, any other llm node by
    :class:`~training.sandbox.SandboxModel` — and scores the finished run with
    ``reward_fn``.

    ``reset(options={"task_id": ...})`` replays one task of the pool.

    Args:
        reward_fn: Scores the finished run; defaults to the shipped reward model.
        task_pool: How many tasks to generate to draw from (those accepted are kept).
        task_seed: Seed of :func:`generate_tasks` for the pool.
        tasks: Draw from these instead (generated, or from recorded runs via
            :func:`training.tasks.tasks_from_runs`); those not accepted are dropped.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    spec_path: ClassVar[Path] = LOGISTICS_SPEC
    node: ClassVar[str]
    # Later llm nodes the environment answers from the state itself (see `answer`).
    answered: ClassVar[tuple[str, ...]] = ()
    # Says which tasks `accepts` keeps, for the error when none is left.
    accepted_tasks: ClassVar[str] = "accepted"

    def __init__(
        self,
        reward_fn: RewardCallable | None = None,
        *,
        task_pool: int = 200,
        task_seed: int = 0,
        tasks: Sequence[Task] | None = None,
    ) -> None:
        self.spec_loaded = load_spec(self.spec_path)  # imports the tool modules too
        self.workflow: WorkflowSpec = self.spec_loaded.spec
        node = self.workflow.nodes[self.node]
        if not isinstance(node, LLMNode) or node.output.json_schema is None:
            raise ValueError(f"Node `{self.node}` must be an llm node with an output schema.")
        self.llm_node = node
        self.reward_fn: RewardCallable = reward_fn or reward_model_reward()
        pool: Sequence[Task] = (
            tasks if tasks is not None else generate_tasks(task_pool, seed=task_seed)
        )
        self.tasks: list[Task] = [t for t in pool if self.accepts(t)]
        if not self.tasks:
            raise ValueError(
                f"No {self.accepted_tasks} task among the {len(pool)} given; "
                "raise `task_pool` or pass other `tasks`."
            )
        self.observation_space = spaces.Text(max_length=MAX_PROMPT_CHARS, charset=CHARSET)
        self.action_space = spaces.Text(max_length=MAX_COMPLETION_CHARS, charset=CHARSET)
        self.sandbox = Sandbox()
        self._graph: CompiledStateGraph[Any, Any, Any, Any] | None = None
        self._config: RunnableConfig = {}
        self._task: Task | None = None
        self._drawing: Task | None = None
        self._schema: dict[str, Any] = {}
        self._obs = ""

    def accepts(self, task: Task) -> bool:
        """Whether ``task``'s run reaches :attr:`node` (and can be scored there)."""
        raise NotImplementedError

    def answer(self, node: str, state: dict[str, Any]) -> Any:
        """The output of ``node`` (one of :attr:`answered`) for ``state``."""
        raise NotImplementedError(f"`{type(self).__name__}` does not answer node `{node}`.")

    def reset_info(self, state: dict[str, Any]) -> dict[str, Any]:
        """Further ``reset`` info for the state at :attr:`node`."""
        return {}

    def view(self, values: dict[str, Any]) -> dict[str, Any]:
        """The state the node's prompt and schema are rendered from (default: as it is)."""
        return values

    def act(self, parsed: Any) -> Any:
        """The node's output written into the run for the parsed answer (default: itself)."""
        return parsed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._draw(options or {})
        run_id = f"sbx-{uuid.uuid4().hex[:12]}"
        services = self.sandbox.services(run_id)
        self._graph = build_graph(self.workflow, services).compile(
            checkpointer=MemorySaver(),
            interrupt_before=[self.node, *self.answered],
            name=self.workflow.name,
        )
        self._config = {"configurable": {"thread_id": run_id}}
        state = initial_state(self.workflow, task.input, dict(self.workflow.config))
        self._graph.invoke(state, self._config)
        snapshot = self._graph.get_state(self._config)
        if tuple(snapshot.next) != (self.node,):
            raise RuntimeError(
                f"Task {task.task_id} did not reach node `{self.node}` (next: {snapshot.next}); "
                f"only {self.accepted_tasks} tasks belong in the pool."
            )
        self._drawing = task
        values = self.view(dict(snapshot.values))
        self._schema = resolve_output_schema(
            self.llm_node.output.json_schema, lambda expr: list(evaluate(expr, values))
        )
        messages = []
        if self.llm_node.system:
            messages.append({"role": "system", "content": render(self.llm_node.system, values)})
        messages.append({"role": "user", "content": render(self.llm_node.prompt, values)})
        self._task = task
        self._obs = _as_text(messages)
        info = {"task_id": task.task_id, "messages": messages, "schema": self._schema}
        return self._obs, {**info, **self.reset_info(values)}

    def _draw(self, options: dict[str, Any]) -> Task:
        unknown = sorted(set(options) - {"task_id"})
        if unknown:
            raise ValueError(f"Unknown reset option(s) {unknown}; the only option is `task_id`.")
        task_id = options.get("task_id")
        if task_id is None:
            return self.tasks[int(self.np_random.integers(len(self.tasks)))]
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise ValueError(
            f"`options.task_id`: no task `{task_id}` among this environment's "
            f"{len(self.tasks)} {self.accepted_tasks} tasks; pick one of `env.tasks`."
        )

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._graph is None or self._task is None:
            raise RuntimeError("Call `reset()` before `step()`.")
        # Episodes end here; the final observation is the prompt answered.
        graph, task, obs = self._graph, self._task, self._obs
        self._graph = None  # one step per episode
        info: dict[str, Any] = {"task_id": task.task_id}
        try:
            parsed = json.loads(action.strip())
            jsonschema.validate(parsed, self._schema)
        except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
            info["error"] = f"not a valid `{self.node}` output: {str(exc).splitlines()[0]}"
            return obs, 0.0, True, False, info
        self._write(graph, self.node, self.act(parsed))
        try:
            final = self._finish(graph)
        except NodeError as exc:
            info["error"] = f"the sandboxed run failed: {exc}"
            return obs, 0.0, True, False, info
        output = final.get(OUTPUT)
        info["output"] = output
        info["state"] = final
        reward = float(self.reward_fn(final, output, task))
        return obs, reward, True, False, info

    def _write(self, graph: CompiledStateGraph, node: str, value: Any) -> None:
        """Record ``value`` as the output of llm node ``node``, as if it had run."""
        spec = self.workflow.nodes[node]
        assert isinstance(spec, LLMNode)
        update = {spec.output.into: value, VISITS: {node: 1}}
        graph.update_state(self._config, update, as_node=node)

    def _finish(self, graph: CompiledStateGraph) -> dict[str, Any]:
        """Run to the end: answer the nodes in `answered`, approve approvals as the sandbox."""
        graph.invoke(None, self._config)
        for _ in range(len(self.workflow.nodes)):
            snapshot = graph.get_state(self._config)
            if not snapshot.next:
                return dict(snapshot.values)
            waiting = snapshot.next[0]
            if waiting in self.answered:
                self._write(graph, waiting, self.answer(waiting, dict(snapshot.values)))
                graph.invoke(None, self._config)
            else:
                decision = {"approved": True, "by": SANDBOX_APPROVER, "comment": None}
                graph.invoke(Command(resume=decision), self._config)
        raise RuntimeError("The sandboxed run kept stopping; is an approval looping?")

    def close(self) -> None:
        self.sandbox.close()
        super().close()


class ChooseEnv(NodeEnv):
    """The ``choose`` decision of ``logistics_booking``, one episode per task.

    Observation: the node's chat messages as text (system, then user).
    Action: the completion text, parsed as the node's structured output
    (``{"quote_id": ...}``). Episodes last one step. Tasks: structured, valid,
    cleared, with eligible quotes (or recorded runs with a structured input
    that reached ``choose``). ``reset`` info adds ``allowed_quote_ids``.

    With ``opaque_quotes`` the prompt shows each task's quotes under ids that
    mean nothing (``Q-`` and five random characters, fresh per task and per
    ``id_salt``, so no id ↔ price mapping carries across tasks) in an order
    in which the right answer's position is uniform; the answer's id is
    mapped back to the real quote before the run goes on, so the sandboxed run
    and the reward are exactly a real run's.  ``order`` re-presents the same
    ids ``"reversed"`` or ``"reshuffled"`` (a second permutation), to check
    that what was learnt does not depend on the order.  ``reset`` info then
    adds ``quotes_shown``: the quotes as listed, with their opaque ids.
    ``memoize`` replays each (task, quote) once and returns the same result
    after (evaluations that score every quote, several policies).
    """

    node = "choose"
    accepted_tasks = "choosable (structured, valid, cleared, with eligible quotes)"
    ORDERS = ("uniform", "reversed", "reshuffled")

    def __init__(
        self,
        reward_fn: RewardCallable | None = None,
        *,
        opaque_quotes: bool = False,
        id_salt: str = "",
        order: str = "uniform",
        memoize: bool = False,
        **kwargs: Any,
    ) -> None:
        if order not in self.ORDERS:
            raise ValueError(f"`order` must be one of {self.ORDERS}, got {order!r}.")
        self.opaque_quotes = opaque_quotes
        self.id_salt = id_salt
        self.order = order
        self._real_ids: dict[str, str] = {}
        # (task id, real quote id) -> the finished step: a run's rest is deterministic.
        self._memo: dict[tuple[str, str], tuple[str, float, bool, bool, dict[str, Any]]] | None = (
            {} if memoize else None
        )
        super().__init__(reward_fn, **kwargs)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """As :meth:`NodeEnv.step`; with ``memoize``, a quote already played is not replayed."""
        if self._memo is None or self._task is None:
            return super().step(action)
        try:
            picked = json.loads(action.strip())["quote_id"]
        except (ValueError, TypeError, KeyError):
            return super().step(action)
        key = (self._task.task_id, self._real_ids.get(picked, f"shown:{picked}"))
        if key not in self._memo:
            self._memo[key] = super().step(action)
        else:
            self._graph = None  # one step per episode, as when played
        return self._memo[key]

    def accepts(self, task: Task) -> bool:
        return _choosable(task)

    @property
    def real_ids(self) -> dict[str, str]:
        """For the task last reset with ``opaque_quotes``: opaque id → real quote id."""
        return dict(self._real_ids)

    def view(self, values: dict[str, Any]) -> dict[str, Any]:
        if not self.opaque_quotes or self._drawing is None:
            self._real_ids = {}
            return values
        screening = dict(values["screening"])
        quotes = [dict(q) for q in screening["eligible_quotes"]]
        task = self._drawing
        rng = random.Random(f"{self.id_salt}:{task.task_id}")
        ids: list[str] = []
        while len(ids) < len(quotes):
            new = "Q-" + "".join(rng.choice(_ID_ALPHABET) for _ in range(5))
            if new not in ids:
                ids.append(new)
        self._real_ids = {new: q["quote_id"] for new, q in zip(ids, quotes, strict=True)}
        shown = [dict(q, quote_id=new) for new, q in zip(ids, quotes, strict=True)]
        answer = task.expected.choice_quote_id if task.expected is not None else None
        right = [q for q in shown if self._real_ids[q["quote_id"]] == answer]
        rest = [q for q in shown if q not in right]
        rng.shuffle(rest)
        position = rng.randrange(len(shown))
        shown = rest[:position] + right + rest[position:]
        if self.order == "reversed":
            shown.reverse()
        elif self.order == "reshuffled":
            random.Random(f"{self.id_salt}:{task.task_id}:reshuffled").shuffle(shown)
        screening["eligible_quotes"] = shown
        screening["eligible_quote_ids"] = [q["quote_id"] for q in shown]
        return {**values, "screening": screening}

    def reset_info(self, state: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "allowed_quote_ids": list(self._schema["properties"]["quote_id"]["enum"])
        }
        if self._real_ids:
            info["quotes_shown"] = state["screening"]["eligible_quotes"]
        return info

    def act(self, parsed: Any) -> Any:
        if self._real_ids and isinstance(parsed, dict) and parsed.get("quote_id") in self._real_ids:
            return {**parsed, "quote_id": self._real_ids[parsed["quote_id"]]}
        return parsed


def _as_text(messages: list[dict[str, Any]]) -> str:
    """The chat messages as one text: each role's content under its name."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
