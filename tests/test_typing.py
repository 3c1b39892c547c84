"""The package type-checks: mypy (with the ``[tool.mypy]`` configuration of pyproject.toml) finds
no error in ``swarmsim/``, and every ``# type: ignore`` there names its error code and says why."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "swarmsim"

#: ``# type: ignore[code, code]  # reason``: the codes in brackets, then a comment of words.
WELL_FORMED = re.compile(r"#\s*type:\s*ignore\[[a-z][a-z0-9-]*(,\s*[a-z][a-z0-9-]*)*\]\s+#\s*\S.*\w")
ANY_IGNORE = re.compile(r"#\s*type:\s*ignore")


def ignore_comments(source: str) -> list[tuple[int, str]]:
    """(line, comment text) of every comment of ``source`` that holds ``type: ignore`` (comments
    only: a string that mentions one is not one)."""
    return [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT and ANY_IGNORE.search(tok.string)]


def badly_formed(source: str) -> list[tuple[int, str]]:
    """The ``type: ignore`` comments of ``source`` without an error code or without a reason."""
    return [(line, text) for line, text in ignore_comments(source) if not WELL_FORMED.search(text)]


def test_the_ignore_rule_tells_good_from_bad() -> None:
    good = "x = f()  # type: ignore[union-attr]  # set by start()\n"
    no_reason = "x = f()  # type: ignore[union-attr]\n"
    no_code = "x = f()  # type: ignore  # set by start()\n"
    bare = "x = f()  # type: ignore\n"
    empty_reason = "x = f()  # type: ignore[arg-type]  #\n"
    in_a_string = 's = "# type: ignore"\n'
    assert badly_formed(good) == []
    assert badly_formed("y = g()  # type: ignore[arg-type, misc]  # numpy's stubs\n") == []
    for bad in (no_reason, no_code, bare, empty_reason):
        assert badly_formed(bad) == [(1, bad.split("  ", 1)[1].strip())], bad
    assert ignore_comments(in_a_string) == []


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 100  # the package, not an empty folder
    bad = [f"{path.relative_to(ROOT)}:{line}: {text}"
           for path in files for line, text in badly_formed(path.read_text(encoding="utf-8"))]
    assert bad == [], "each `# type: ignore` needs [code] and `  # reason`:\n" + "\n".join(bad)


@pytest.mark.slow
def test_mypy_finds_no_error_in_the_package() -> None:
    from mypy import api  # the dev extras (pip install -e '.[dev]')

    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(PACKAGE)])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 0 and errors == [], f"mypy (exit {status}):\n{out}{err}"
    assert re.search(r"Success: no issues found in \d+ source files", out), out
