"""Readable validation errors: a pydantic ``ValidationError`` turned into one ``(path,
message)`` per problem, in the scenario's own keys and words, with examples and "did you mean"
suggestions for near misses.

pydantic reports a ``loc`` such as ("workloads", "training", "jobs", "arrivals", "poisson",
"rate"): the user's keys mixed with the tags of discriminated unions ("jobs", "poisson"),
the member labels of plain unions ("list[str]", "function-before[...]") and markers such as
"[key]". ``_walk`` follows the loc through the user's own input and the model annotations at
the same time, keeps only the user's keys, and learns what the value should have been, so
:func:`explain` can say it in the scenario's own words: one line per problem, path and
expectation, with an example wherever a unit is involved.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError

from swarmsim import catalog
from swarmsim.scenario.common import NAME_PATTERN, did_you_mean
from swarmsim.scenario.model import Scenario

#: What a field holding a ``{dist: ...}`` or a bare quantity means, by field name: the value
#: with an example, and an example of a distribution.
_QUANTITY_MEANING = {
    "duration": ("a duration such as 1.5h", "{dist: lognormal, median: 1.5h, sigma: 1.0}"),
    "data": ("a data size such as 20GB", "{dist: uniform, low: 1GB, high: 50GB}"),
    "gpus": ("a number of GPUs such as 8", "{dist: empirical, values: [1, 2, 4, 8]}"),
    "priority": ("a number such as 1", "{dist: empirical, values: [0, 1], weights: [9, 1]}"),
    "provision_time": ("a duration such as 4m", "{dist: lognormal, median: 4m, sigma: 0.5}"),
}
_ANY_QUANTITY = "expected a number or a value with a unit"

#: Examples for fields whose value has a shape (a list or a mapping), by field name.
_SHAPE_EXAMPLES = {
    "residency": "[EU, US]",
    "gpu_types": "[A100-80GB, H100-SXM]",
    "origin": "{us-east: 0.6, eu-west: 0.4}",
    "regions": "{us-east: {}, eu-west: {}}",
    "node_types": "{a100x8: {gpu: A100-80GB, gpus: 8}}",
    "fleet": "{us-east: {a100x8: 4}}",
    "workloads": "{training: {kind: jobs, ...}}",
    "policies": "[{kind: static}]",
    "values": "[1, 2, 4, 8]",
    "weights": "[5, 3, 1, 1]",
    "rates": "[10/h, 60/h]",
    "mean_durations": "[4h, 30m]",
    "location": "{lat: 50.1, lon: 8.7}",
    "arrivals": "{process: poisson, rate: 20/h}",
    "network": "{bandwidth: 10Gbps}",
    "scheduler": "{queue: fifo, placement: best-fit}",
    "rtt_overrides": "{us-east: {eu-west: 76ms}}",
}

#: Words for a unit type, by the base unit its JSON-schema marker names.
_UNIT_NOUNS = {
    "seconds": "a duration",
    "per second": "a rate",
    "bytes": "a data size",
    "bits per second": "a bandwidth",
    "fraction": "a fraction",
}

_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}

_TYPE_WORDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


class _Tagged(typing.NamedTuple):
    """Marks an annotation as a discriminated union with this tag field (kept from a Field)."""

    discriminator: str


class _Where(typing.NamedTuple):
    """Where a pydantic error is, in the user's terms."""

    path: str  # dotted path of the user's keys, e.g. "workloads.training.arrivals.rate"
    node: Any  # the user's value there (None when the key is absent)
    holder: type[BaseModel] | None  # the model that holds the last key
    annotation: Any  # what the value there should be
    union: tuple[str, Any, Any] | None  # (path, annotation, value) of a plain union passed through


def _field_of_alias(model: type[BaseModel], alias: str) -> str:
    """The field a model reads from key ``alias`` (``for`` -> ``duration``), or ``alias``."""
    if alias in model.model_fields:
        return alias
    return next((name for name, f in model.model_fields.items() if f.alias == alias), alias)


def explain(err: ValidationError, raw: Any) -> list[tuple[str, str]]:
    """One ``(path, message)`` per problem, in the order pydantic found them."""
    out: list[tuple[str, str] | tuple[str, None]] = []  # (path, None): a group filled in below
    missing: dict[str, list[tuple[str, Any]]] = {}  # parent path -> [(field, annotation)]
    unions: set[str] = set()
    suggested: set[str] = set()  # paths of fields a misspelt key probably meant
    for e in err.errors(include_url=False):
        where = _walk(raw, e["loc"])
        if where.union is not None:
            upath, annotation, value = where.union
            if upath not in unions:
                unions.add(upath)
                key = upath.rsplit(".", 1)[-1]
                out.append((upath, f"expected {_describe(annotation, key)}, got {show(value)}"))
            continue
        if e["type"] == "missing":
            parent, _, field = where.path.rpartition(".")
            if parent not in missing:
                missing[parent] = []
                out.append((parent, None))
            missing[parent].append((field, where.annotation))
            continue
        path, message = _message(e, where)
        if e["type"] == "extra_forbidden" and "did you mean" in message:
            parent = where.path.rpartition(".")[0]
            intended = message.split("did you mean ", 1)[1].split("?", 1)[0].strip("'\"")
            suggested.add(f"{parent}.{intended}" if parent else intended)
        out.append((path, message))

    problems: list[tuple[str, str]] = []
    for path, note in out:
        if note is not None:
            if (path, note) not in problems:
                problems.append((path, note))
            continue
        fields = [(f, a) for f, a in missing[path] if (f"{path}.{f}" if path else f) not in suggested]
        if not fields:
            continue
        hint = _region_hint(path)
        if len(fields) == 1:
            field, annotation = fields[0]
            noun, example = _expected(annotation)
            full = f"{path}.{field}" if path else field
            meaning = _quantity_meaning(full, missing=True)
            text = "required field is missing"
            if meaning:
                text += f"; expected {meaning}"
            elif example:
                text += f"; expected {noun} such as {example}"
            if hint:
                text += f" ({hint})"
            problems.append((f"{path}.{field}" if path else field, text))
        else:
            text = f"required fields are missing: {', '.join(f for f, _ in fields)}"
            problems.append((path, f"{text} ({hint})" if hint else text))
    return problems


def _message(e: Any, where: _Where) -> tuple[str, str]:
    """The user's path and a readable message for one pydantic error."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    path, annotation = where.path, where.annotation
    message = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    key = path.rsplit(".", 1)[-1]
    noun, example = _expected(annotation)
    such_as = f" such as {example}" if example else ""
    add_got = True
    if kind == "extra_forbidden":
        allowed = [a for a in (where.holder.model_fields if where.holder else []) if a != "source"]
        hint = did_you_mean(key, allowed)
        message = f"unknown key {key!r}"
        if hint:
            message += hint
        elif allowed:
            message += f"; allowed: {', '.join(allowed)}"
        return path, message
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "kind")).strip("'\"")
        tags = _tag_values(annotation, field)
        path = f"{path}.{field}" if path else field
        choices = _one_of(tags) if tags else str(ctx.get("expected_tags", ""))
        if kind == "union_tag_not_found":
            return path, f"required field is missing; expected {choices}"
        tag = ctx.get("tag", value)
        return path, f"unknown {field} {tag!r}: expected {choices}{did_you_mean(str(tag), tags)}"
    if kind == "literal_error":
        literals = [c for m in _members(annotation) if typing.get_origin(m) is Literal
                    for c in typing.get_args(m)]
        expected = _one_of(literals) if literals else str(ctx.get("expected", ""))
        hint = did_you_mean(str(value), [str(c) for c in literals])
        return path, f"expected {expected}, got {show(value)}{hint}"
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        message = f"expected {noun} {op} {ctx.get(name)}{such_as}"
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}"
        if kind in ("dict_type", "model_type", "model_attributes_type", "list_type"):
            if key in _SHAPE_EXAMPLES:
                message += f" such as {_SHAPE_EXAMPLES[key]}"
        elif example:
            message = f"expected {noun}{such_as}"
    elif kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        message = f"expected {word} {n} entr{'y' if n == 1 else 'ies'}"
        if kind == "too_short" and key in _SHAPE_EXAMPLES:
            message += f" such as {_SHAPE_EXAMPLES[key]}"
        message += f", got {ctx.get('actual_length')}"
        add_got = False
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        message = "expected a name of letters, digits, '.', '_' and '-' that starts with a letter or digit"
    elif kind == "string_too_short":
        message = "expected non-empty text"
    elif kind in ("value_error", "assertion_error"):
        path, message = _relocate(path, message, where)
        add_got = not isinstance(value, dict | list)
    else:
        message = message.replace("Input should be", "expected")
    meaning = _quantity_meaning(path)
    if message.startswith(_ANY_QUANTITY) and meaning:
        rest = message[message.find(", got"):] if ", got" in message else ""
        message = f"expected {meaning}{rest}"
    if add_got and "got" not in message and repr(value) not in message:
        message += f", got {show(value)}"
    return path, message


def _quantity_meaning(path: str, missing: bool = False) -> str:
    """``"a duration such as 1.5h or {dist: ...}"`` for a quantity field (by its name), the
    unit part alone for a parameter of its distribution (``duration.median``), else ``""``."""
    parts = path.split(".")
    if parts[-1] in _QUANTITY_MEANING:
        value, dist = _QUANTITY_MEANING[parts[-1]]
        return f"{value} or {dist}"
    if missing:
        return ""
    for up in (2, 3):  # duration.median, gpus.values.1
        if len(parts) > up and parts[-up] in _QUANTITY_MEANING:
            return _QUANTITY_MEANING[parts[-up]][0]
    return ""


def _relocate(path: str, message: str, where: _Where) -> tuple[str, str]:
    """A model-level check that starts with a field's name (``gpus: ...``, ``max_gpus (4) ...``)
    is about that field: put the field in the path."""
    model = _as_model(where.annotation, where.node) if isinstance(where.node, dict) else None
    match = re.match(r"([A-Za-z_]\w*)(: | \()", message)
    if model is None or match is None or match.group(1) not in model.model_fields:
        return path, message
    field = match.group(1)
    if match.group(2) == ": ":
        message = message[match.end():]
    return (f"{path}.{field}" if path else field), message


def show(value: Any) -> str:
    """A user's value in a message: ``repr`` for a scalar, words for a mapping or a long list."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) <= 40 else "a list"
    return repr(value)


def _one_of(choices: typing.Sequence[Any]) -> str:
    shown = [repr(c) for c in choices]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} or {shown[-1]}"


def _region_hint(path: str) -> str:
    """For a region that is missing fields: say that its name is not a built-in region."""
    parts = path.split(".")
    if len(parts) != 2 or parts[0] != "regions" or catalog.find_region(parts[1]) is not None:
        return ""
    hint = did_you_mean(parts[1], catalog.region_sites())
    return (f"{parts[1]!r} is not a region of the built-in catalog{hint}, so give location, "
            "jurisdiction and utc_offset, or site: <a built-in region>")


def _expected(annotation: Any) -> tuple[str, str | None]:
    """``("a rate", "20/h")`` for a rate field, ``("a whole number", None)`` for an int, ..."""
    for member in _members(annotation):
        for meta in getattr(member, "__metadata__", ()):
            base = getattr(meta, "base_unit", None)
            if isinstance(base, str) and hasattr(meta, "example"):
                noun = _UNIT_NOUNS.get(base)
                return (noun, meta.example) if noun else ("a value", None)
    bare = [t for t in _unwrap(annotation) if t is not type(None)]
    if len(bare) == 1:
        words = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
        if bare[0] in words:
            return words[bare[0]], None
    return "a value", None


def _describe(annotation: Any, key: str) -> str:
    """What a plain union accepts, in words: ``'origin', 'any' or a list such as [EU, US]``."""
    words: list[str] = []
    for member in _members(annotation):
        bare = _unwrap(member)[0]
        origin = typing.get_origin(bare)
        if bare is type(None):
            continue
        if origin is Literal:
            words.extend(repr(c) for c in typing.get_args(bare))
        elif origin in (list, dict):
            word = "a list" if origin is list else "a mapping"
            words.append(f"{word} such as {_SHAPE_EXAMPLES[key]}" if key in _SHAPE_EXAMPLES else word)
        elif isinstance(bare, type) and issubclass(bare, BaseModel):
            words.append("a mapping of fields")
        else:
            noun, example = _expected(member)
            words.append(f"{noun} such as {example}" if example else noun)
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words) or "another value"
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _walk(raw: Any, loc: tuple[Any, ...]) -> _Where:
    """Turn a pydantic ``loc`` into the user's path (dropping union tags, union member labels
    and markers), and find what the value there should be."""
    node: Any = raw
    annotation: Any = Scenario
    holder: type[BaseModel] | None = None
    parts: list[str] = []
    union: tuple[str, Any, Any] | None = None
    for part in loc:
        tagged = _tagged_model(annotation, node, part)
        if tagged is not None:  # the tag of a discriminated union: not one of the user's keys
            annotation = tagged
            continue
        model = _as_model(annotation, node)
        if isinstance(node, dict) and part in node:
            holder = model
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            holder = None
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif model is not None and isinstance(part, str) and _field_of_alias(model, part) in model.model_fields:
            annotation = _field_annotation(model, _field_of_alias(model, part))
            if node is None or isinstance(node, dict):  # a field the user did not give
                holder = model
                node = None
                parts.append(part)  # as the user writes it (an alias such as ``for``)
            # else: a bare value standing for a model ("8" for {dist: constant, value: 8})
        elif isinstance(part, str) and part != "[key]" and union is None and len(_members(annotation)) > 1:
            # the label of one member of a plain union, e.g. "list[str]"
            union = (".".join(parts), annotation, node)
        # anything else ("[key]", a validator's name) is not part of the user's path
    return _Where(".".join(parts), node, holder, annotation, union)


def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into candidate types."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _members(annotation: Any) -> list[Any]:
    """Like :func:`_unwrap`, but a member keeps its own ``Annotated`` metadata (its unit), and
    ``None`` is left out."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner = typing.get_args(annotation)[0]
        if typing.get_origin(inner) in (typing.Union, types.UnionType):
            return _members(inner)
        return [annotation]
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_members(arg))
        return out
    return [] if annotation is type(None) else [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _discriminator(annotation: Any) -> str | None:
    """The tag field of a discriminated union (``Field(discriminator="kind")``), or None; an
    optional one (``ArrivalSpec | None``) counts too."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _discriminator(members[0])
    if typing.get_origin(annotation) is not Annotated:
        return None
    for meta in annotation.__metadata__:
        name = getattr(meta, "discriminator", None)
        if isinstance(name, str):
            return name
    return None


def _tag_values(annotation: Any, field: str) -> list[Any]:
    """Every accepted value of a union's tag field, in declaration order."""
    values: list[Any] = []
    for model in _models(annotation):
        info = model.model_fields.get(field)
        if info is not None and typing.get_origin(info.annotation) is Literal:
            values.extend(typing.get_args(info.annotation))
    return values


def _tagged_model(annotation: Any, node: Any, part: Any) -> type[BaseModel] | None:
    """The union member a loc element names, when that element is a discriminated union's tag
    (pydantic puts "poisson" in ``loc`` for ``{process: poisson, ...}``), else None."""
    field = _discriminator(annotation)
    if field is None or not isinstance(part, str):
        return None
    if isinstance(node, dict) and field in node and node[field] != part:
        return None  # a user's key that happens to spell another member's tag
    for model in _models(annotation):
        info = model.model_fields.get(field)
        if info is not None and part in typing.get_args(info.annotation):
            return model
    return None


def _as_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = _models(annotation)
    if len(models) <= 1:
        return models[0] if models else None
    if isinstance(node, dict):
        tags = [t for t in (_discriminator(annotation), "kind", "process", "dist", "strategy") if t]
        for tag in tags:
            for m in models:
                field = m.model_fields.get(tag)
                if field is not None and node.get(tag) in typing.get_args(field.annotation):
                    return m
    return None


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    """A model field's annotation with its metadata (unit, bounds, discriminator) put back."""
    info = model.model_fields[name]
    extras: list[Any] = list(info.metadata)
    if isinstance(info.discriminator, str):
        extras.append(_Tagged(info.discriminator))
    return Annotated[(info.annotation, *extras)] if extras else info.annotation


def _child_annotation(annotation: Any, node: Any, key: Any) -> Any:
    model = _as_model(annotation, node)
    if model is not None:
        return _field_annotation(model, key) if isinstance(key, str) and key in model.model_fields else None
    for t in _unwrap(annotation):
        origin = typing.get_origin(t)
        if origin is dict and isinstance(node, dict):
            return typing.get_args(t)[1]
        if origin is list and isinstance(node, list):
            return typing.get_args(t)[0]
    return None
