"""The import rules of docs/architecture.md, read from the code itself (with ``ast``).

Every ``import`` counts, at module level or lazily inside a function; only imports under
``if TYPE_CHECKING:`` are left out of the cycle check (they never run). A change that breaks a
rule fails here with the module, the line and the rule it broke.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jitops"
#: the jitops-sandbox distribution (stand-ins, demo and their commands), its own folder
SANDBOX = ROOT / "sandbox" / "jitops_sandbox"

#: the rooms, by module prefix (the longest prefix wins); docs/architecture.md names the same
ROOMS: dict[str, str] = {
    "jitops": "root",
    "jitops.errors": "root",
    "jitops.__main__": "cli",
    "jitops.core": "core",
    "jitops.audit": "audit",
    "jitops.delivery": "delivery",
    "jitops.doors": "doors",
    "jitops.lifecycle": "lifecycle",
    "jitops.setup": "setup",
    "jitops.cli": "cli",
    "jitops_sandbox": "sandbox",
    "jitops_sandbox.demo": "demo",
    # `jitops demo` and `jitops sandbox`: they drive jitops itself, like the demo
    "jitops_sandbox.cli": "demo",
}

#: which rooms each room may import (itself always)
MAY_IMPORT: dict[str, set[str]] = {
    "root": set(),
    "core": {"root"},
    "audit": {"root", "core"},
    "delivery": {"root", "core"},
    "doors": {"root", "core"},
    "lifecycle": {"root", "core", "delivery", "doors", "audit"},
    "setup": {"root", "core", "doors", "lifecycle"},
    # the commands of jitops-sandbox are loaded by name (importlib), never imported
    "cli": {"root", "core", "audit", "delivery", "doors", "lifecycle", "setup"},
    "sandbox": set(),
    "demo": {"root", "core", "delivery", "doors", "lifecycle", "setup", "sandbox"},
}

#: outside libraries that reach an outside system, and the one module allowed each
DOOR_LIBRARIES: dict[str, tuple[str, ...]] = {
    "hvac": ("jitops.doors.vault.client",),
    "github": ("jitops.doors.github",),
    "requests": ("jitops.doors.vault.client", "jitops.doors.vault.login", "jitops.doors.github"),
    "urllib.request": ("jitops.doors.webhooks", "jitops_sandbox"),
    # git runs only in the git door; the sandbox starts its servers, the CLI's sandbox command
    # its OpenBao, and the demo runs `jitops` itself as a workflow would (git through the door)
    # `gh auth token` runs only in its own door (a requester's token, on a laptop)
    "subprocess": ("jitops.doors.git", "jitops.doors.ghcli", "jitops_sandbox"),
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a jitops module or an outside library)
    line: int
    runtime: bool  # False under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    top = SANDBOX if path.is_relative_to(SANDBOX) else PACKAGE
    parts = list(path.relative_to(top.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    _module_name(p): p for package in (PACKAGE, SANDBOX) for p in sorted(package.rglob("*.py"))
}


def _resolve(name: str) -> str:
    """The jitops module ``name`` refers to (``from jitops.x import f`` means jitops.x)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> Iterator[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, runtime: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.body:
                    yield from visit_one(sub, False)
                for sub in child.orelse:
                    yield from visit_one(sub, runtime)
            else:
                yield from visit_one(child, runtime)

    def visit_one(node: ast.AST, runtime: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, runtime)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(module, full if _resolve(full) == full else base, node.lineno, runtime)
        yield from visit(node, runtime)

    yield from visit(tree, True)


ALL: list[Import] = [imp for module in MODULES for imp in _imports(module)]
INTERNAL = [
    i
    for i in ALL
    if i.target in ("jitops", "jitops_sandbox")
    or i.target.startswith(("jitops.", "jitops_sandbox."))
]


def room_of(module: str) -> str:
    best = max((p for p in ROOMS if module == p or module.startswith(p + ".")), key=len)
    return ROOMS[best]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line}"


def test_every_module_has_a_room() -> None:
    assert {m: room_of(m) for m in MODULES if room_of(m) not in MAY_IMPORT} == {}


def test_each_room_imports_only_the_rooms_below_it() -> None:
    broken = [
        f"{_where(i)}: {room_of(i.source)} module {i.source} imports {i.target} "
        f"({room_of(_resolve(i.target))})"
        for i in INTERNAL
        if room_of(_resolve(i.target)) != room_of(i.source)
        and room_of(_resolve(i.target)) not in MAY_IMPORT[room_of(i.source)]
    ]
    assert broken == []


def test_only_the_doors_import_the_libraries_that_reach_outside() -> None:
    broken = [
        f"{_where(i)}: {i.source} imports {i.target}, which only {allowed} may"
        for i in ALL
        for library, allowed in DOOR_LIBRARIES.items()
        if (i.target == library or i.target.startswith(library + "."))
        and not any(i.source == a or i.source.startswith(a + ".") for a in allowed)
    ]
    assert broken == []


def test_production_code_never_imports_the_sandbox() -> None:
    broken = [
        f"{_where(i)}: {i.source} imports {i.target}"
        for i in INTERNAL
        if i.target.startswith("jitops_sandbox") and not i.source.startswith("jitops_sandbox")
    ]
    assert broken == []


def test_the_production_package_holds_no_stand_in_or_demo() -> None:
    # what the Action installs in privileged jobs is the product only
    assert [
        m for m in MODULES if m.startswith("jitops.") and m.split(".")[1] in ("sandbox", "demo")
    ] == []


def test_the_sandbox_imports_nothing_of_jitops_but_itself() -> None:
    broken = [
        f"{_where(i)}: {i.target}"
        for i in INTERNAL
        if room_of(i.source) == "sandbox" and not i.target.startswith("jitops_sandbox")
    ]
    assert broken == []


def _cycle() -> list[str] | None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in INTERNAL:
        target = _resolve(i.target)
        # a package's __init__ runs before its modules: importing jitops.x.y imports jitops.x
        if (
            i.runtime
            and target != i.source
            and target in MODULES
            and target not in ("jitops", "jitops_sandbox")
        ):
            graph[i.source].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycles_even_through_lazy_imports() -> None:
    assert _cycle() is None


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("jitops.core.gate", "jitops.doors.git", "doors"),
        ("jitops.doors.github", "jitops.cli", "cli"),
    ],
)
def test_the_rules_see_a_forbidden_import(source: str, target: str, expected: str) -> None:
    # the checker itself: a core or door module importing upwards is a room it may not import
    assert room_of(target) == expected
    assert expected not in MAY_IMPORT[room_of(source)]


def _runs_git(module: str) -> list[int]:
    """Lines where ``module`` starts a process whose argv begins with "git"."""
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple)
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value == "git"
    ]


def test_only_the_git_door_runs_git() -> None:
    # the GitHub stand-in is the other side (its own git), not jitops' ledger
    broken = {
        m: lines
        for m in MODULES
        if not m.startswith(("jitops.doors.git", "jitops_sandbox")) and (lines := _runs_git(m))
    }
    assert broken == {}


#: Raw git command lines outside the git door, counted per (module, git subcommand): none. The
#: door answers named questions (``parents``, ``is_ancestor``, ``deletions_since``...); a new
#: question gets a named method in jitops.doors.git.
RAW_GIT_ALLOWED: dict[tuple[str, str], int] = {}

#: the git door's methods that take a raw git command line
_RAW_METHODS = ("run", "text", "proc", "_run", "_text", "_proc")


def _raw_git_calls(module: str) -> list[tuple[str, int]]:
    """(git subcommand, line) of each call ``<x>.run/text/proc("<subcommand>", ...)`` in
    ``module``, and of each such call on something named ``git`` whatever its arguments."""
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    calls = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _RAW_METHODS
        ):
            continue
        first = node.args[0] if node.args else None
        literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
        receiver = ast.unparse(node.func.value).rsplit(".", 1)[-1].lower()
        if literal or "git" in receiver:
            calls.append((first.value if literal else "?", node.lineno))  # type: ignore[union-attr]
    return calls


def test_no_new_raw_git_command_lines_outside_the_git_door() -> None:
    # the door speaks the ledger's words; a new question gets a named method in jitops.doors.git
    found: dict[tuple[str, str], list[int]] = {}
    for m in MODULES:
        if m.startswith(("jitops.doors.git", "jitops_sandbox")):
            continue
        for sub, line in _raw_git_calls(m):
            found.setdefault((m, sub), []).append(line)
    over = {
        f"{MODULES[m].relative_to(ROOT)}: git {sub} at lines {lines}"
        for (m, sub), lines in found.items()
        if len(lines) > RAW_GIT_ALLOWED.get((m, sub), 0)
    }
    assert over == set()


def test_the_raw_git_rule_sees_a_raw_call(tmp_path: Path) -> None:
    # the checker itself, on a made-up module: both spellings are raw git command lines
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f(svc, git):\n    svc.git.text('rev-list')\n    git.run(*a)\n    git._proc('log')\n",
        "utf-8",
    )
    MODULES["jitops.lifecycle._probe"] = probe
    try:
        assert _raw_git_calls("jitops.lifecycle._probe") == [("rev-list", 2), ("?", 3), ("log", 4)]
    finally:
        del MODULES["jitops.lifecycle._probe"]


#: what no tracked file may name: the repository stands alone (what code relies on is in docs/)
_OUTSIDE = re.compile(r"\.\./shared\b|\b(?:DESIGN|PROTOCOLS|STYLE)\.md\b|/work/[a-z]")
#: text files worth reading (code, docs, workflows, configuration)
_TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".json", ".txt", ".cfg", ".sh", ".in"}


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
        ).stdout.decode()
        paths = [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):  # not a checkout (an unpacked sdist)
        paths = [p for p in ROOT.rglob("*") if ".git" not in p.parts]
    return [
        p
        for p in paths
        if p.is_file()
        and (p.suffix in _TEXT_SUFFIXES or p.name in ("CODEOWNERS", "run") or not p.suffix)
        and "node_modules" not in p.parts
    ]


def test_nothing_points_outside_the_repository() -> None:
    # a reader of a fresh clone must find everything a comment, test or doc refers to
    broken = [
        f"{p.relative_to(ROOT)}:{n}: {m.group(0)}"
        for p in _tracked_text_files()
        for n, line in enumerate(p.read_text("utf-8", errors="replace").splitlines(), 1)
        if (m := _OUTSIDE.search(line))
    ]
    assert broken == []


@pytest.mark.parametrize(
    "line",
    [
        "see " + "DESIGN" + ".md section 4",
        "(" + "PROTOCOLS" + ".md section 12)",
        "as " + "STYLE" + ".md asks",
        "read .." + "/shared/notes",
    ],
)
def test_the_outside_reference_rule_sees_a_pointer(line: str) -> None:
    assert _OUTSIDE.search(line)


def test_the_github_stand_ins_rules_and_merges_do_not_reach_back_into_its_store() -> None:
    # the store calls merging and rulesets with itself; they see it through their Protocols
    # (MergeView, RulesView), not as a class spread over three files
    assert [
        f"{_where(i)}: {i.source} imports {i.target}"
        for i in INTERNAL
        if i.source in ("jitops_sandbox.github.merging", "jitops_sandbox.github.rulesets")
        and i.target.startswith("jitops_sandbox.github.store")
    ] == []
