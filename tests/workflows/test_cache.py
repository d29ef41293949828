"""The spec cache: parsed once per distinct text, re-parsed after an edit, bounded (LRU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeyard.settings import get_settings
from tests.support.specs import spec_dict, to_yaml
from workflows import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _write(path: Path, **changes) -> Path:  # type: ignore[no-untyped-def]
    path.write_text(to_yaml(spec_dict(**changes)))
    return path


def test_same_text_is_parsed_once(tmp_path):
    path = _write(tmp_path / "adder.yaml")
    first = cache.load_spec(path)
    second = cache.load_spec(path)
    assert second is first
    assert (cache._specs.misses, cache._specs.hits) == (1, 1)
    # The same text under another name is another entry (errors name the file).
    other = _write(tmp_path / "copy.yaml")
    assert cache.load_spec(other) is not first
    assert cache.load_spec(other).hash == first.hash


def test_an_edited_file_is_parsed_again_and_the_old_spec_is_untouched(tmp_path):
    path = _write(tmp_path / "adder.yaml", version="1")
    before = cache.load_spec(path)
    _write(tmp_path / "adder.yaml", version="2")
    after = cache.load_spec(path)
    assert after is not before
    assert (before.spec.version, after.spec.version) == ("1", "2")
    assert before.hash != after.hash
    # A run pinned to the first text still gets the first spec.
    assert cache.load_spec_text_cached(before.source, filename=str(path)) is before


def test_the_cache_is_bounded_by_its_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEYARD_SPEC_CACHE_SIZE", "2")
    get_settings.cache_clear()
    try:
        paths = [_write(tmp_path / f"s{i}.yaml", version=str(i)) for i in range(3)]
        loaded = [cache.load_spec(p) for p in paths]
        assert len(cache._specs) == 2
        # The least recently used (the first) was dropped: loading it again parses it.
        assert cache.load_spec(paths[2]) is loaded[2]
        assert cache.load_spec(paths[0]) is not loaded[0]
        assert len(cache._specs) == 2
    finally:
        get_settings.cache_clear()


def test_a_broken_spec_reports_its_problems_every_time(tmp_path):
    from workflows.loader import SpecError

    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nnodes: 3\n")
    for _ in range(2):
        with pytest.raises(SpecError):
            cache.load_spec(path)
    assert len(cache._specs) == 0
