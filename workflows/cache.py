"""Parsed and validated workflow specs, kept per process by content hash.

Parsing and validating a spec (YAML, pydantic, the semantic checks) costs far
more than reading its file, and the API does it on every submission.  The
cache key is the SHA-256 of the exact text (and the name it is reported
under), so an edited file is a different key and is parsed again, and a run
pinned to the old text still gets the old spec.  The cache is an LRU bounded by
``FORGEYARD_SPEC_CACHE_SIZE``.  Errors are not cached: a broken file reports
its problems every time.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from forgeyard.settings import get_settings
from forgeyard.yaml_problems import read_source
from workflows.loader import LoadedSpec, SpecError, load_spec_text

__all__ = ["LRU", "clear", "declared_name", "load_spec", "load_spec_text_cached"]

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small thread-safe LRU mapping whose bound is read on each insert."""

    def __init__(self, maxsize: int | None = None) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        bound = self.maxsize if self.maxsize is not None else get_settings().spec_cache_size
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > bound:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


_specs: LRU[tuple[str, str], LoadedSpec] = LRU()
_names: LRU[str, str | None] = LRU()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def load_spec_text_cached(source: str, *, filename: str = "<spec>") -> LoadedSpec:
    """:func:`workflows.loader.load_spec_text`, parsed once per distinct text."""
    key = (_digest(source), filename)
    loaded = _specs.get(key)
    if loaded is None:
        loaded = load_spec_text(source, filename=filename)
        _specs.put(key, loaded)
    return loaded


def load_spec(path: str | Path) -> LoadedSpec:
    """Read the spec at ``path`` and return it parsed (from the cache when its text is known)."""
    return load_spec_text_cached(read_source(path, SpecError), filename=str(path))


def declared_name(path: Path) -> str | None:
    """The ``name:`` a spec file declares (None when unreadable), by content hash."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    key = _digest(text)
    if (name := _names.get(key)) is not None:
        return name
    try:
        doc = YAML(typ="safe").load(text)
    except YAMLError:
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    name = name if isinstance(name, str) else None
    if name is not None:
        _names.put(key, name)
    return name


def clear() -> None:
    """Forget every cached spec (tests)."""
    _specs.clear()
    _names.clear()
