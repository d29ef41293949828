"""Finding runs: by status, workflow, time, idempotency key, the steps they took, and
fields of their input or output.

One plain function, :func:`search_runs`, answers the HTTP API, the CLI and the
ops console alike. Fields of the input or output are compared in the database
with its own JSON operators (PostgreSQL ``#>``/``#>>``/``json_typeof``, SQLite
``json_extract``/``json_type``), so a search never loads runs to filter them in
Python.

Errors::

    RunError (agents.runner)
    ├── QueryInvalid          a filter is malformed; ``field`` names it
    │   └── CursorInvalid     the cursor is not one this module handed out
    └── AmbiguousRunId        a run id prefix matches more than one run
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Numeric, and_, case, cast, exists, func, or_
from sqlmodel import Session, col, select

from agents.runner import RunError, RunNotFound
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, Step

__all__ = [
    "AmbiguousRunId",
    "CursorInvalid",
    "FieldMatch",
    "QueryInvalid",
    "RunPage",
    "RunQuery",
    "parse_where",
    "resolve_run",
    "search_runs",
]

# A path segment: a key of letters, digits, `_` and `-`, or an array index.
# Narrow on purpose: the segment goes into a JSON path, and nothing there may be
# read as path syntax (quotes, dots, brackets, `$`).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
MAX_WHERE = 20
MAX_LIMIT = 200


class QueryInvalid(RunError):
    """A search filter that cannot be applied; ``field`` names the filter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


class CursorInvalid(QueryInvalid):
    def __init__(self) -> None:
        super().__init__(
            "cursor", "not a cursor of this search: pass `next_cursor` from the previous page"
        )


class AmbiguousRunId(RunError):
    """A run id prefix that matches several runs; ``candidates`` holds (some of) them."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.candidates = candidates
        listed = "\n".join(f"  {c}" for c in candidates)
        super().__init__(
            f"run id prefix `{prefix}` matches {len(candidates)} or more runs; "
            f"give more of the id:\n{listed}"
        )


@dataclass(frozen=True)
class FieldMatch:
    """``input.request.origin=CNSHA``: a field of the run's input or output equals a value.

    The value matches a JSON string equal to it; if it reads as a number, also
    a JSON number of that value; ``true``/``false`` also the booleans; ``null``
    also JSON null.
    """

    root: Literal["input", "output"]
    path: tuple[str | int, ...]
    value: str

    def __str__(self) -> str:
        return ".".join([self.root, *map(str, self.path)]) + "=" + self.value


def parse_where(text: str) -> FieldMatch:
    """A :class:`FieldMatch` from ``ROOT.PATH=VALUE``; digits in the path index arrays.

    Raises:
        QueryInvalid: (field ``where``) no ``=``, a root other than ``input`` or
            ``output``, an empty or unsafe path segment, or a bad character.
    """
    _check_text("where", text)
    path_text, sep, value = text.partition("=")
    if not sep:
        raise QueryInvalid("where", f"`{text}`: expected FIELD=VALUE, e.g. input.order.id=4711")
    root, *segments = path_text.split(".")
    if root not in ("input", "output"):
        raise QueryInvalid(
            "where", f"`{path_text}`: a field starts with `input.` or `output.`, not `{root}`"
        )
    if not segments:
        raise QueryInvalid("where", f"`{path_text}`: name a field inside {root}, e.g. {root}.id")
    path: list[str | int] = []
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise QueryInvalid(
                "where",
                f"`{path_text}`: path segment `{segment}` must be letters, digits, `_` or `-`",
            )
        path.append(int(segment) if segment.isdigit() else segment)
    return FieldMatch(root, tuple(path), value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunQuery:
    """What to look for; every filter given must hold (AND), a list is any-of.

    ``adapter``/``model``: some step was answered by it (at ``node`` if given);
    ``reached``: some step of that node was recorded. Times are inclusive
    ``*_after`` and exclusive ``*_before``; naive datetimes are UTC.
    """

    status: tuple[RunStatus, ...] = ()
    workflow: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    idempotency_key: str | None = None
    adapter: str | None = None
    model: str | None = None
    node: str | None = None
    reached: str | None = None
    where: tuple[FieldMatch, ...] = field(default=())

    @classmethod
    def of(
        cls,
        *,
        status: Iterable[RunStatus | str] = (),
        where: Iterable[str | FieldMatch] = (),
        **filters: Any,
    ) -> RunQuery:
        """A query from loose values (as a CLI or a form has them), checked.

        Raises:
            QueryInvalid: naming the first filter that is wrong.
        """
        statuses: list[RunStatus] = []
        for s in status:
            try:
                statuses.append(RunStatus(s))
            except ValueError:
                known = ", ".join(v.value for v in RunStatus)
                raise QueryInvalid("status", f"`{s}` is not a run status ({known})") from None
        matches = tuple(w if isinstance(w, FieldMatch) else parse_where(w) for w in where)
        query = cls(status=tuple(statuses), where=matches, **filters)
        query.check()
        return query

    def check(self) -> None:
        """Raise :class:`QueryInvalid` naming the first filter that cannot be applied."""
        for name in ("workflow", "idempotency_key", "adapter", "model", "node", "reached"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
        for match in self.where:
            _check_text("where", match.value)
        if len(self.where) > MAX_WHERE:
            raise QueryInvalid("where", f"at most {MAX_WHERE} field filters, got {len(self.where)}")
        if self.node is not None and self.adapter is None and self.model is None:
            raise QueryInvalid(
                "node", "says where `adapter` or `model` answered; for any step use `reached`"
            )
        for low, high in (
            ("created_after", "created_before"),
            ("finished_after", "finished_before"),
        ):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and _aware(a) >= _aware(b):
                raise QueryInvalid(high, f"must be later than `{low}`")


@dataclass(frozen=True)
class RunPage:
    """One page of a search, newest first; pass ``next_cursor`` back for the next."""

    runs: list[Run]
    next_cursor: str | None


def search_runs(
    tenant_id: str | None,
    query: RunQuery | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> RunPage:
    """The runs matching ``query``, newest first, paginated by keyset cursor.

    Args:
        tenant_id: whose runs; None (the operator's CLI) for every tenant's.
        query: the filters; None for all runs.
        cursor: ``next_cursor`` of the previous page.
        limit: the page size, 1 to 200.

    Raises:
        QueryInvalid: a filter, the limit or the cursor is wrong (naming it).
    """
    query = query or RunQuery()
    query.check()
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryInvalid("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")
    with session_scope() as session:
        statement = select(Run).where(*_conditions(session, tenant_id, query))
        if cursor is not None:
            created, run_id = _decode_cursor(cursor)
            statement = statement.where(
                or_(
                    col(Run.created_at) < created,
                    and_(col(Run.created_at) == created, col(Run.id) < run_id),
                )
            )
        statement = statement.order_by(col(Run.created_at).desc(), col(Run.id).desc())
        runs = list(session.exec(statement.limit(limit + 1)))
    more = len(runs) > limit
    runs = runs[:limit]
    return RunPage(runs=runs, next_cursor=_encode_cursor(runs[-1]) if more else None)


def resolve_run(prefix: str, *, tenant_id: str | None = None) -> Run:
    """The run whose id is ``prefix`` or starts with it (as ``git`` resolves a short hash).

    Raises:
        RunNotFound: no such run.
        AmbiguousRunId: several runs start with ``prefix`` (up to ten listed).
    """
    _check_text("run_id", prefix)
    if not prefix:
        raise RunNotFound("No run: give a run id or the start of one.")
    with session_scope() as session:
        statement = select(Run).where(col(Run.id).startswith(prefix, autoescape=True))
        if tenant_id is not None:
            statement = statement.where(Run.tenant_id == tenant_id)
        found = list(session.exec(statement.order_by(col(Run.id)).limit(10)))
    exact = [r for r in found if r.id == prefix]
    if exact:
        return exact[0]
    if not found:
        raise RunNotFound(f"No run `{prefix}` (no run id starts with it).")
    if len(found) > 1:
        raise AmbiguousRunId(prefix, [r.id for r in found])
    return found[0]


# -- building the SQL -------------------------------------------------------------
def _conditions(session: Session, tenant_id: str | None, q: RunQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if tenant_id is not None:
        conditions.append(col(Run.tenant_id) == tenant_id)
    if q.status:
        conditions.append(col(Run.status).in_(q.status))
    if q.workflow is not None:
        conditions.append(col(Run.workflow) == q.workflow)
    if q.idempotency_key is not None:
        conditions.append(col(Run.idempotency_key) == q.idempotency_key)
    for column, after, before in (
        (Run.created_at, q.created_after, q.created_before),
        (Run.finished_at, q.finished_after, q.finished_before),
    ):
        if after is not None:
            conditions.append(col(column) >= _aware(after))
        if before is not None:
            conditions.append(col(column) < _aware(before))
    if q.adapter is not None or q.model is not None:
        step = [col(Step.run_id) == col(Run.id)]
        if q.adapter is not None:
            step.append(col(Step.adapter) == q.adapter)
        if q.model is not None:
            step.append(col(Step.model) == q.model)
        if q.node is not None:
            step.append(col(Step.node) == q.node)
        conditions.append(exists().where(*step))
    if q.reached is not None:
        conditions.append(
            exists().where(col(Step.run_id) == col(Run.id), col(Step.node) == q.reached)
        )
    dialect = session.get_bind().dialect.name
    conditions += [_field_equals(dialect, match) for match in q.where]
    return conditions


def _field_equals(dialect: str, match: FieldMatch) -> ColumnElement[bool]:
    """SQL for "this JSON field equals the value", typed as :class:`FieldMatch` says."""
    column = col(Run.input) if match.root == "input" else col(Run.output)
    value = match.value
    number = value if _NUMBER.fullmatch(value) else None
    if dialect == "postgresql":
        # `#>` keeps the JSON (for its type), `#>>` gives its text.
        kind = func.json_typeof(column[match.path])
        text = column[match.path].as_string()
        options = [and_(kind == "string", text == value)]
        if number is not None:
            # CASE, not AND: PostgreSQL may evaluate either side of an AND first,
            # and casting a non-number's text to NUMERIC raises.
            numeric = cast(case((kind == "number", text)), Numeric)
            options.append(numeric == Decimal(number))
        if value in ("true", "false"):
            options.append(and_(kind == "boolean", text == value))
        elif value == "null":
            options.append(kind == "null")
    else:
        json_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f'."{p}"' for p in match.path)
        kind = func.json_type(column, json_path)
        extracted = func.json_extract(column, json_path)
        options = [and_(kind == "text", extracted == value)]
        if number is not None:
            as_number = int(number) if number.lstrip("-").isdigit() else float(number)
            options.append(and_(kind.in_(("integer", "real")), extracted == as_number))
        if value in ("true", "false", "null"):
            # SQLite's json_type names the boolean (and null) itself.
            options.append(kind == value)
    return or_(*options)


def _check_text(name: str, value: str) -> None:
    # PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded:
    # either would surface as a database error, not as the client's mistake.
    if "\x00" in value:
        raise QueryInvalid(name, "contains a NUL character")
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise QueryInvalid(name, "contains a lone surrogate (not valid Unicode text)")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _encode_cursor(run: Run) -> str:
    raw = json.dumps([run.created_at.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, run_id = json.loads(raw)
        return _aware(datetime.fromisoformat(created)), str(run_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise CursorInvalid() from None
