"""The locks (requirements/*.lock, `make lock`) agree with the pins of the three pyproject files.

Every third-party pin (runtime dependencies and the dev extras) is in requirements/dev.lock at
the same version, the runtime ones in requirements/runtime.lock too, which the worker image
installs and which holds no dev extra; every locked package carries a hash; no local project
is in a lock (they come from the tree, so an index's package of the same name never does).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT / "pyproject.toml", ROOT / "schemas/pyproject.toml",
            ROOT / "service/client/pyproject.toml"]
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)\s*(?:;.*)?$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Pins:
    local: set[str] = field(default_factory=set)
    runtime: dict[str, str] = field(default_factory=dict)
    dev: dict[str, str] = field(default_factory=dict)  # the dev extras only


def project_pins() -> Pins:
    pins = Pins()
    for path in PROJECTS:
        pins.local.add(normalize(tomllib.loads(path.read_text())["project"]["name"]))
    for path in PROJECTS:
        project = tomllib.loads(path.read_text())["project"]
        groups = [(pins.runtime, project.get("dependencies", [])),
                  (pins.dev, project.get("optional-dependencies", {}).get("dev", []))]
        for into, requirements in groups:
            for requirement in requirements:
                match = PIN.match(requirement)
                assert match, f"{path.relative_to(ROOT)}: {requirement!r} is not pinned with =="
                name = normalize(match[1])
                if name not in pins.local:
                    into[name] = match[2]
    return pins


@dataclass
class Entry:
    version: str
    hashes: list[str]
    via: set[str]  # uv's annotation: what requires it


def parse_lock(text: str) -> tuple[dict[str, Entry], list[str]]:
    """The lock's entries by normalized name, and the problems of its lines."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    last: Entry | None = None
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("#"):  # uv's `# via a` or `# via` then one `#   a` a line
            comment = line.lstrip("#").strip()
            if comment.startswith("via "):
                comment = comment[4:]
            if last is None or comment.startswith(("-c ", "-r ")) or comment == "via":
                continue
            if " " in comment:  # any other comment ends the annotation
                last = None
            elif comment:
                last.via.add(normalize(comment))
            continue
        if not line:
            continue
        requirement, *options = line.split()
        match = PIN.match(requirement)
        if not match:
            problems.append(f"not a name==version line: {line[:80]!r}")
            last = None
            continue
        name = normalize(match[1])
        last = entries[name] = Entry(match[2], options, set())
        if not options or not all(HASH.match(option) for option in options):
            problems.append(f"{name}: no --hash=sha256 for every option: {options[:2]}")
    return entries, problems


def check(text: str, pins: dict[str, str], local: set[str]) -> list[str]:
    """What is wrong with a lock that must hold `pins`: missing, different, unhashed, local."""
    entries, problems = parse_lock(text)
    for name, version in sorted(pins.items()):
        if name not in entries:
            problems.append(f"{name}=={version} is not in the lock")
        elif entries[name].version != version:
            problems.append(f"{name}: pinned {version}, locked {entries[name].version}")
    problems += [f"{name} is a local project: never from an index"
                 for name in entries if name in local]
    return problems


def lock(name: str) -> str:
    return (LOCKS / name).read_text()


def test_dev_lock_has_every_pin_with_a_hash() -> None:
    pins = project_pins()
    assert check(lock("dev.lock"), pins.runtime | pins.dev, pins.local) == []


def test_runtime_lock_has_every_runtime_pin_with_a_hash() -> None:
    pins = project_pins()
    assert check(lock("runtime.lock"), pins.runtime, pins.local) == []


def test_runtime_lock_is_the_dev_lock_without_the_dev_extras() -> None:
    """The image's packages are the developers' at the same versions; a dev extra is in it only
    as a dependency of a runtime package (multidict for aiohttp), never for the dev extras."""
    pins = project_pins()
    runtime, _ = parse_lock(lock("runtime.lock"))
    dev, _ = parse_lock(lock("dev.lock"))
    assert [n for n, e in runtime.items() if n not in dev or dev[n].version != e.version] == []
    only_dev = set(pins.dev) - set(pins.runtime)
    wanted_by_runtime = {name for name, entry in runtime.items()
                         if entry.via - only_dev - pins.local}
    assert sorted(only_dev & set(runtime) - wanted_by_runtime) == []
    assert "pytest" in only_dev and "pytest" not in runtime


def test_tools_lock_is_hashed() -> None:
    entries, problems = parse_lock(lock("tools.lock"))
    assert problems == [] and "uv" in entries


GOOD = """\
# via the header
aiokafka==0.14.0 \\
    --hash=sha256:{a}
    # via badges-service
pydantic==2.14.3 --hash=sha256:{b} \\
    --hash=sha256:{a}
""".format(a="a" * 64, b="b" * 64)


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD, []),
    (GOOD.replace("aiokafka==0.14.0", "aiokafka==0.13.0"),
     ["aiokafka: pinned 0.14.0, locked 0.13.0"]),
    (GOOD.split("pydantic")[0], ["pydantic==2.14.3 is not in the lock"]),
    (GOOD.replace("--hash=sha256:" + "b" * 64, "--no-binary=:none:"),
     ["pydantic: no --hash=sha256 for every option: ['--no-binary=:none:', '--hash=sha256:"
      + "a" * 64 + "']"]),
    (GOOD + "cachetools==8.0.0\n", ["cachetools: no --hash=sha256 for every option: []"]),
    (GOOD + "badges-sdk==0.1.0 --hash=sha256:" + "c" * 64 + "\n",
     ["badges-sdk is a local project: never from an index"]),
    (GOOD + "-e ./schemas\n", ["not a name==version line: '-e ./schemas'"]),
])
def test_check_reports_what_is_wrong(text: str, expected: list[str]) -> None:
    pins = {"aiokafka": "0.14.0", "pydantic": "2.14.3"}
    assert check(text, pins, {"badges-sdk", "badges-schemas"}) == expected


def test_a_pin_missing_from_the_real_lock_fails() -> None:
    pins = project_pins()
    text = re.sub(r"(?ms)^fastapi==.*?(?=^\S)", "", lock("runtime.lock"))
    assert check(text, pins.runtime, pins.local) == ["fastapi==0.163.2 is not in the lock"]
