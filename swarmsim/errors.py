"""The one exception that means "your input is wrong" (the CLI turns it into exit status 2)."""

from __future__ import annotations


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

    def format(self) -> str:
        """One line per problem: ``file: path: message``."""
        where = f"{self.file}: " if self.file else ""
        lines = []
        for path, message in self.problems:
            lines.append(f"{where}{path}: {message}" if path else f"{where}{message}")
        return "\n".join(lines)
