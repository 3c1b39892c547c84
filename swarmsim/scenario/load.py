"""Loading a scenario: YAML (a key given twice is an error), ``${VAR}`` from the environment,
``--set path=value`` overrides, the file's folder for relative paths, then validation with
every problem explained in the scenario's own words (:mod:`swarmsim.scenario.explain`)."""

from __future__ import annotations

import copy
import os
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from swarmsim.errors import ScenarioError
from swarmsim.scenario.explain import explain, show
from swarmsim.scenario.model import Scenario

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_scenario(
    source: str | os.PathLike[str] | dict[str, Any] | Scenario,
    overrides: dict[str, Any] | None = None,
) -> Scenario:
    """Read, override and validate a scenario.

    Args:
        source: a YAML file path, a dict with the same content, or a :class:`Scenario`.
        overrides: ``{"path.to.field": value}`` applied before validation, as ``--set`` does.
            String values are parsed as YAML (never evaluated).

    Raises:
        ScenarioError: with the file, the path of every problem and what was expected.
    """
    file: str | None = None
    if isinstance(source, Scenario):
        if not overrides:
            return source
        raw = source.model_dump(mode="json")
        file = source.source
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    elif isinstance(source, str | os.PathLike):
        file = os.fspath(source)
        raw = _read_yaml(Path(file))
    else:
        raise TypeError(f"expected a scenario file path, a dict or a Scenario, got {type(source).__name__}")
    if not isinstance(raw, dict):
        got = "the file is empty" if raw is None else f"got {show(raw)}"
        raise ScenarioError(
            file, [("", f"expected a mapping of scenario fields (name, horizon, regions, ...); {got}")]
        )
    try:
        raw = _expand_vars(raw, "")
        for path, value in (overrides or {}).items():
            _set_path(raw, str(path), _parse_override_value(copy.deepcopy(value)))
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    named_by_file = False
    if file is not None:
        named_by_file = "name" not in raw
        raw.setdefault("name", Path(file).stem)
        raw["source"] = str(Path(file).resolve())
    try:
        return Scenario.model_validate(raw)
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    except ValidationError as err:
        try:
            problems = explain(err, raw)
        except Exception:  # never let the explainer turn bad input into a traceback
            problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in err.errors(include_url=False)]
        if named_by_file:
            problems = [
                (p, f"{m} (the name is taken from the file name; give name: in the file)")
                if p == "name" else (p, m)
                for p, m in problems
            ]
        raise ScenarioError(file, problems) from None


def parse_overrides(pairs: typing.Iterable[str]) -> dict[str, Any]:
    """``["a.b=3", "c=20/h"]`` -> ``{"a.b": "3", "c": "20/h"}`` (values stay text; YAML later)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        path, sep, value = pair.partition("=")
        if not sep or not path.strip():
            raise ScenarioError(None, [("--set", f"expected path=value, got {pair!r}")])
        out[path.strip()] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: plain PyYAML keeps the
    last one and silently drops the other, which the contract forbids (a typo is never ignored)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let PyYAML report it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {first + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(str(path), [("", "is a folder; expected a scenario file (.yaml)")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), [("", f"cannot read: {err}")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: never constructs objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(str(path), [("", f"{where}not valid YAML ({problem})")]) from None


def _parse_override_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _expand_vars(node: Any, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_vars(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_vars(v, f"{path}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ScenarioError(
                    None, [(path, f"environment variable {name} is not set (used as ${{{name}}})")]
                )
            return os.environ[name]

        return _VAR.sub(sub, node)
    return node


def _set_path(raw: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    if not all(part.strip() for part in parts):
        raise ScenarioError(
            None, [("--set", "expected a dotted path such as workloads.training.arrivals.rate, "
                             f"got {path!r}")]
        )
    parts = [part.strip() for part in parts]
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    None, [(where, f"no list item {part} (the list has {len(node)}: 0 to {len(node) - 1})")]
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            parent = ".".join(parts[:i])
            raise ScenarioError(
                None, [(where, f"cannot set {part!r} inside {parent} = {node!r} "
                               "(a plain value, not a mapping)")]
            )

