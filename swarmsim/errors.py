"""The one exception that means "your input is wrong" (the CLI turns it into exit status 2)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def did_you_mean(word: str, choices: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to a misspelt ``word``, else ``""``: the one
    hint every "unknown name" message ends with."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ScenarioError(Exception):
    """A scenario, trace or request that cannot be used, with where the problem is.

    It is deliberately not a ``ValueError``, so that pydantic lets it through unchanged when a
    cross-field check raises it during validation.

    Attributes:
        file: the file the problem is in, or ``None`` for a scenario given as a dict.
        problems: ``(path, message)`` pairs, e.g. ``("workloads.training.arrivals.rate",
            "expected a rate such as 20/h, got 'fast'")``. A path may be ``""`` for the
            whole file.
    """

    def __init__(self, file: str | None, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__(self.format())

    def moved(self, file: str | None, problems: list[tuple[str, str]] | None = None) -> ScenarioError:
        """The same error at ``file`` (with ``problems`` instead of its own when given), of the same
        kind: an :class:`ArgumentError` stays one, so the CLI still names its flags."""
        kind = ArgumentError if isinstance(self, ArgumentError) else ScenarioError
        return kind(file, self.problems if problems is None else problems)

    def format(self) -> str:
        """One line per problem: ``file: path: message``."""
        where = f"{self.file}: " if self.file else ""
        lines = []
        for path, message in self.problems:
            lines.append(f"{where}{path}: {message}" if path else f"{where}{message}")
        return "\n".join(lines)


class ArgumentError(ScenarioError):
    """A bad argument of a public function (``plan``, ``sweep``, ``inspect_trace``, ...): each
    problem's path is the parameter's name (``regions``, ``max_runs``), and a message that names
    another parameter writes it ``name=value`` (``vary=fleet``). The library never names a CLI
    flag; the CLI shows these names as its flags (``--regions``, ``--vary fleet``)."""
