"""Loading a scenario: YAML (a key given twice is an error), ``${VAR}`` from the environment,
``--set path=value`` overrides, the file's folder for relative paths, then validation with
every problem explained in the scenario's own words (:mod:`swarmsim.scenario.explain`)."""

from __future__ import annotations

import copy
import os
import re
import typing
import weakref
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.scenario.explain import explain, show
from swarmsim.scenario.model import Scenario
from swarmsim.scenario.overrides import reset_changed_policies, set_path, written_params

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: What the user wrote for each policy of a loaded scenario (``id(scenario)`` -> one dict of
#: parameters per policy), so that overrides on a loaded :class:`Scenario` (a sweep's grid, the
#: planner) can tell written parameters from defaults (:mod:`swarmsim.scenario.overrides`).
#: An entry leaves with its scenario; a scenario without one (unpickled, or built directly)
#: falls back to "the parameters that differ from the defaults".
_WRITTEN: dict[int, list[dict[str, Any]] | None] = {}


def _remember(scenario: Scenario, written: list[dict[str, Any]] | None) -> Scenario:
    key = id(scenario)
    _WRITTEN[key] = written
    weakref.finalize(scenario, _WRITTEN.pop, key, None)
    return scenario


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
            set_path(raw, str(path), _parse_override_value(copy.deepcopy(value)))
        if isinstance(source, Scenario):
            written = reset_changed_policies(raw, source, _WRITTEN.get(id(source)), overrides or {})
        else:
            written = written_params(raw)
    except ScenarioError as err:
        raise err.moved(file) from None
    named_by_file = False
    if file is not None:
        named_by_file = "name" not in raw
        raw.setdefault("name", Path(file).stem)
        raw["source"] = str(Path(file).resolve())
    try:
        return _remember(Scenario.model_validate(raw), written)
    except ScenarioError as err:
        raise err.moved(file) from None
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
            raise ArgumentError(None, [("overrides", f"expected path=value, got {pair!r}")])
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
            if name == "SWARMSIM_DATA" and not os.environ.get(name):
                return _data_folder(path, node[match.end():])
            if name not in os.environ:
                raise ScenarioError(
                    None, [(path, f"environment variable {name} is not set (used as ${{{name}}})")]
                )
            return os.environ[name]

        return _VAR.sub(sub, node)
    return node


def _data_folder(path: str, rest: str) -> str:
    """``${SWARMSIM_DATA}`` while the variable is not set: the first folder of the lookup order
    (:mod:`swarmsim.datadirs`) that holds ``rest``, or a ScenarioError saying where it looked."""
    import swarmsim.datadirs as datadirs

    folder = datadirs.find(rest)
    if folder is None:
        raise ScenarioError(None, [(path, datadirs.not_found(rest))])
    return str(folder)
