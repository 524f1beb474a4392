"""The layout rules of docs/architecture.md, checked on the source so they can't drift.

- An import inside a function says why (a comment on it or on the block of imports it opens):
  start-up cost, an optional dependency, or wiring done when the app is built. Never a cycle.
- A module over 500 lines says in its docstring why it is kept whole.
- Views parse, call a service and render: no session, no query, no commit.
"""
import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"
LONG_MODULE = 500


def _modules():
    return sorted(PORTAL.rglob("*.py"))


def _name(path):
    return str(path.relative_to(PORTAL.parent))


def _has_reason(lines, lineno):
    """True when the import on `lineno` (1-based) has a trailing comment, or a comment sits at the
    top of the run of imports and comments it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    index = lineno - 2
    while index >= 0:
        text = lines[index].strip()
        if text.startswith("#"):
            return True
        if not (text.startswith(("from ", "import ")) or text.startswith(")") or text.endswith((",", "("))):
            return False
        index -= 1
    return False


def function_local_imports_without_reason():
    found = []
    for path in _modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)) and not _has_reason(lines, inner.lineno):
                    found.append(f"{_name(path)}:{inner.lineno}")
    return sorted(set(found))


def test_every_function_local_import_says_why():
    assert function_local_imports_without_reason() == []


def test_long_modules_say_why_they_are_whole():
    unexplained = []
    for path in _modules():
        source = path.read_text()
        if source.count("\n") <= LONG_MODULE:
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if "kept whole" not in docstring.lower():
            unexplained.append(f"{_name(path)} ({source.count(chr(10))} lines)")
    assert unexplained == []


def test_views_hold_no_queries_or_commits():
    offending = []
    for path in _modules():
        if not path.name.endswith("views.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "db.session" in line or "select(" in line:
                offending.append(f"{_name(path)}:{number}: {line.strip()}")
    assert offending == []
