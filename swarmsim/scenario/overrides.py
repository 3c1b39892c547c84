"""``--set path=value`` and ``overrides={"path": value}``: applying one dotted path to a raw
scenario document, and what a change of a policy's ``kind`` or ``strategy`` does to its
parameters.

**Paths.** A path walks mappings by key and lists by index. Where the scenario expects a
mapping of *named* things (``workloads``, ``regions``, ``node_types``; the regions of ``fleet``,
``limits.pools``, a workload's ``origin`` and ``replicas``, ``network.rtt_overrides``; the node
types inside ``fleet.<region>`` and ``limits.pools.<region>``), a key that names nothing
defined is an error with a "did you mean" (``no workload 'trainng' (did you mean
'training'?)``) instead of a new, half-empty entry. A new workload, region or node type may
still be added by setting the whole entry (``--set 'workloads.extra={kind: jobs, ...}'``), and
a fleet or origin may name any defined region. List indexes are bounds-checked (``policies has
1 entry; index 5 is out of range``). Any other missing key is created, so new optional fields
work (``--set limits.budget_usd_per_hour=10``).

**Policies.** The resolved scenario holds every parameter of a policy, defaults included. When
overrides change a policy's ``kind``, ``strategy`` or ``class``, the parameters that came only
from the old strategy's defaults are dropped; the ones the user wrote (in the file, or in the
same overrides) are kept, so a written parameter the new strategy does not take is reported
once, by name, by the policy check.
"""

from __future__ import annotations

import typing
from typing import Any, cast

from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.scenario.common import did_you_mean

if typing.TYPE_CHECKING:
    from swarmsim.scenario.model import Scenario

#: Where a mapping's keys are names defined elsewhere: (path pattern, "*" any key) ->
#: (what a key names, the top-level section defining those names, may a new one be created).
_NAMED: dict[tuple[str, ...], tuple[str, str, bool]] = {
    ("workloads",): ("workload", "workloads", False),
    ("regions",): ("region", "regions", False),
    ("node_types",): ("node type", "node_types", False),
    ("fleet",): ("region", "regions", True),
    ("fleet", "*"): ("node type", "node_types", True),
    ("limits", "pools"): ("region", "regions", True),
    ("limits", "pools", "*"): ("node type", "node_types", True),
    ("workloads", "*", "origin"): ("region", "regions", True),
    ("workloads", "*", "replicas"): ("region", "regions", True),
    ("network", "rtt_overrides"): ("region", "regions", True),
    ("network", "rtt_overrides", "*"): ("region", "regions", True),
}

#: Lists of the format that may be missing from a file (so that ``policies.0`` has nothing to index).
_LISTS = {("policies",), ("failures", "outages")}

#: The fields of a policy entry that are not parameters of its class.
_POLICY_FIELDS = {"kind", "strategy", "class", "class_path", "interval", "params"}


def _matches(prefix: list[str], pattern: tuple[str, ...]) -> bool:
    return len(prefix) == len(pattern) and all(p in ("*", q) for p, q in zip(pattern, prefix, strict=True))


def _named(prefix: list[str]) -> tuple[str, str, bool] | None:
    for pattern, meaning in _NAMED.items():
        if _matches(prefix, pattern):
            return meaning
    return None


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` of the raw document ``raw`` (module docstring).

    Raises:
        ScenarioError: (without a file) a malformed path, a name that nothing defines, an index
            out of range, or a key inside a plain value.
    """
    parts = path.split(".")
    if not all(part.strip() for part in parts):
        raise ArgumentError(
            None, [("overrides", "expected a dotted path such as workloads.training.arrivals.rate, "
                             f"got {path!r}")]
        )
    parts = [part.strip() for part in parts]
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        parent = ".".join(parts[:i])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                what = f"index {part} is out of range" if part.isdigit() else f"{part!r} is not an index"
                span = f" (0 to {len(node) - 1})" if node else ""
                raise ScenarioError(None, [(where, f"{parent} has {_entries(len(node))}; {what}{span}")])
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            _check_name(raw, parts[:i], part, node, last, where)
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    if tuple(parts[: i + 1]) in _LISTS:
                        raise ScenarioError(None, [(
                            ".".join(parts[: i + 2]),
                            f"the scenario has no {where}; index {parts[i + 1]} is out of range "
                            f"(set the whole list, e.g. --set '{where}=[{{...}}]')")])
                    node[part] = {}
                node = node[part]
        else:
            raise ScenarioError(
                None, [(where, f"cannot set {part!r} inside {parent} = {node!r} "
                               "(a plain value, not a mapping)")]
            )


def _check_name(raw: dict[str, Any], prefix: list[str], key: str, node: dict[str, Any], last: bool,
                where: str) -> None:
    """A key of a mapping of named things must name something defined (module docstring)."""
    meaning = _named(prefix)
    if meaning is None or key in node or key == "from_trace":
        return
    what, section, may_refer = meaning
    defined = raw.get(section)
    if not isinstance(defined, dict):
        return  # the section itself is missing or malformed: validation says so
    if may_refer and key in defined:
        return
    if not may_refer and last:
        return  # a whole new entry: validation checks it like any other
    known = list(node if not may_refer else defined)
    listed = f"; {section}: {', '.join(map(str, known))}" if known else f"; the scenario has no {section}"
    hint = did_you_mean(key, known)
    add = f" (to add one, set the whole entry: --set '{where}={{...}}')" if not may_refer else ""
    raise ScenarioError(None, [(where, f"no {what} {key!r}{hint}{listed}{add}")])


def written_params(raw: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The parameters the user wrote for each policy of a raw document (inline or under
    ``params``); ``None`` when ``policies`` is not a list of mappings (validation says why)."""
    policies = raw.get("policies")
    if policies is None:
        return []
    if not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies):
        return None
    out = []
    for p in policies:
        params = p.get("params") if isinstance(p.get("params"), dict) else {}
        out.append({**params, **{k: v for k, v in p.items() if k not in _POLICY_FIELDS}})
    return out


def _identity(p: Any) -> tuple[Any, Any, Any]:
    if isinstance(p, dict):
        return p.get("kind"), p.get("strategy"), p.get("class", p.get("class_path"))
    return p.kind, p.strategy, p.class_path


def _defaulted(spec: Any) -> dict[str, Any]:
    """Without a record of what the user wrote: the parameters that differ from the class's
    defaults (the others may have come from the defaults)."""
    try:
        fields = spec.policy_class().Params.model_fields
    except Exception:  # an unresolvable class cannot have been validated; keep everything
        return dict(spec.params)
    out = {}
    for k, v in spec.params.items():
        field = fields.get(k)
        if field is None or field.is_required() or field.get_default(call_default_factory=True) != v:
            out[k] = v
    return out


def reset_changed_policies(raw: dict[str, Any], old: Scenario, written: list[dict[str, Any]] | None,
                           overrides: dict[str, Any]) -> list[dict[str, Any]] | None:
    """After ``overrides`` were applied to ``raw`` (a dump of ``old``): each policy whose kind,
    strategy or class changed keeps only the parameters the user wrote (``written``, the record
    of ``old``'s document; without it, those that differ from the old class's defaults) and the
    ones the overrides set. Returns the record of what the user wrote for the new document."""
    policies = raw.get("policies")
    if not isinstance(policies, list):
        return None
    keys = [str(k).strip() for k in overrides]
    out: list[dict[str, Any]] = []
    for i, p in enumerate(policies):
        base = f"policies.{i}"
        if not isinstance(p, dict):
            return None
        if i >= len(old.policies) or any(k in ("policies", base) for k in keys):
            whole = cast(list[dict[str, Any]], written_params({"policies": [p]}))  # not None: p is a mapping
            out.append(whole[0])  # the user wrote this entry whole
            continue
        mine = dict(written[i]) if written is not None and i < len(written) else _defaulted(old.policies[i])
        for k in keys:
            if k.startswith(f"{base}.params."):
                name = k.removeprefix(f"{base}.params.").split(".", 1)[0]
                mine[name] = (p.get("params") or {}).get(name)
            elif k.startswith(f"{base}.") and k.split(".")[2] not in _POLICY_FIELDS:
                name = k.split(".")[2]
                mine[name] = p.get(name)
        if _identity(p) != _identity(old.policies[i]) and f"{base}.params" not in keys:
            inline = {k for k in p if k not in _POLICY_FIELDS}
            p["params"] = {k: v for k, v in mine.items() if k not in inline}
        out.append(mine)
    return out
