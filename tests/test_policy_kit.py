"""The policy kit of docs/policies.md, "Writing a policy": the base class, a class named by a file
path or handed over as an object, check_policy's errors (under ``python -O`` too), the testing
helpers against a full run, and the shipped example end to end."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from user_policies import HalveEveryHour

import swarmsim
from swarmsim.policies import (
    Action,
    AddNodes,
    Policy,
    PolicyError,
    PolicyParams,
    PolicyParamsError,
    RemoveNodes,
    ResizeNodes,
    View,
    check_policy,
    forbidden_imports,
)
from swarmsim.policies.registry import BUILTIN, load_class
from swarmsim.policies.target_tracking import TargetTracking
from swarmsim.policies.testing import FakeClock, cluster, node_type, pool, region

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from my_policy import BacklogScaler  # noqa: E402  (examples/ is not a package)

#: A 3-hour world of 8 one-GPU nodes, for policies that remove half the nodes every hour.
HALVING: dict[str, Any] = {
    "name": "halving", "horizon": "3h", "sample_every": "1h", "regions": {"us-east": {}},
    "node_types": {"a1": {"gpu": "A100-80GB", "gpus": 1, "usd_per_gpu_hour": 2.0}},
    "fleet": {"us-east": {"a1": 8}},
}

HALVE_FILE = '''
"""Halves the fleet every hour. Never write `import simpy` in a policy: it decides on views."""
from swarmsim.policies import Policy, PolicyParams, RemoveNodes


class Halve(Policy):
    class Params(PolicyParams):
        node_type: str = "a1"

    default_interval_s = 3600.0

    def decide(self, view):
        out = []
        for name, region in sorted(view.regions.items()):
            pool = region.pools[self.params.node_type]
            billed = pool.nodes_provisioning + pool.nodes_ready
            if billed // 2:
                out.append(RemoveNodes(name, self.params.node_type, billed // 2, reason="halve"))
        return out
'''


# --- the base class ----------------------------------------------------------------------------


def test_the_base_class_validates_params_once_and_holds_rng() -> None:
    policy = BacklogScaler({"max_step": 2, "idle_after": "10m"})
    assert policy.params.max_step == 2 and policy.params.idle_after == 600.0  # "10m" in s
    assert policy.params.node_type == "a100x8"  # the default
    given = BacklogScaler.Params(max_step=3)
    assert BacklogScaler(given).params is given  # an instance is kept: validated once, by the caller
    assert BacklogScaler().params == BacklogScaler.Params()
    # Without an rng the policy gets default_rng(0): two such policies draw the same numbers.
    assert BacklogScaler().rng.random() == BacklogScaler().rng.random() == np.random.default_rng(0).random()
    rng = np.random.default_rng(7)
    assert BacklogScaler(rng=rng).rng is rng


def test_a_bad_param_is_a_clear_error_naming_the_class_and_field() -> None:
    with pytest.raises(PolicyParamsError, match=r"BacklogScaler\.Params\.max_step: Input should be greater "
                                                r"than or equal to 1"):
        BacklogScaler({"max_step": 0})
    with pytest.raises(PolicyParamsError, match=r"BacklogScaler\.Params\.max_stp: unknown parameter"):
        BacklogScaler({"max_stp": 2})
    with pytest.raises(PolicyParamsError, match=r"idle_after: .*duration"):
        BacklogScaler({"idle_after": "soon"})
    with pytest.raises(TypeError, match=r"Params must be a pydantic model"):
        type("NoModel", (Policy,), {"Params": dict})


def test_every_builtin_uses_the_one_constructor() -> None:
    builtins: list[Any] = list(BUILTIN.values())
    for cls in builtins:
        assert issubclass(cls, Policy) and "__init__" not in vars(cls), cls.__name__
        policy = cls(rng=np.random.default_rng(1))  # defaults validate; state set up by reset()
        assert policy.params == cls.Params()
    tt = TargetTracking({"target_utilization": 0.5})
    view = region("us-east", pool("a100x8", (8, 8), busy=16))
    tt.decide(cluster([view], time_s=15.0))
    assert tt._recommendations  # history kept ...
    tt.reset()
    assert not tt._recommendations  # ... and forgotten


# --- naming the class: a file path, a class object ---------------------------------------------


def halving_actions(res: swarmsim.Result) -> list[tuple[float, str, int]]:
    acts = res.actions
    return list(zip(acts["time_decided_s"], acts["policy"], acts["applied"], strict=True))


def test_a_class_in_a_file_relative_to_the_scenario_loads_and_runs(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "halve.py").write_text(HALVE_FILE)
    doc = copy.deepcopy(HALVING)
    doc["policies"] = [{"kind": "custom", "class": "../policies/halve.py:Halve"}]  # from the scenario's folder
    file = tmp_path / "scenarios" / "halving.yaml"
    file.parent.mkdir()
    file.write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(ROOT)  # not the scenario's folder: the path must not depend on it
    res = swarmsim.simulate(file)
    # 8 nodes; the policy removes half at 1 h (4) and at 2 h (2); at 3 h the run has ended.
    assert halving_actions(res) == [(3600.0, "0:custom/Halve", 4), (7200.0, "0:custom/Halve", 2)]
    assert res.summary["gpu_hours_provisioned"] == pytest.approx(8 + 4 + 2)
    assert "class_path: ../policies/halve.py:Halve" in swarmsim.load_scenario(file).to_yaml()  # recorded as written
    cls = swarmsim.load_scenario(file).policies[0].policy_class()
    check_policy(cls, {"node_type": "a100x8"})  # its docstring says "import simpy"; only imports count


def test_a_class_object_runs_as_the_same_class_named_by_module() -> None:
    by_name = swarmsim.simulate({**HALVING, "policies": [{"kind": "custom", "class": "user_policies:HalveEveryHour"}]})
    doc = {**HALVING, "policies": [{"kind": "custom", "class": HalveEveryHour}]}
    by_object = swarmsim.simulate(doc)
    assert halving_actions(by_object) == halving_actions(by_name) == [
        (3600.0, "0:custom/HalveEveryHour", 4), (7200.0, "0:custom/HalveEveryHour", 2)]
    sc = swarmsim.load_scenario(doc)
    assert sc.policies[0].class_path == "user_policies:HalveEveryHour"  # what scenario.yaml records
    assert sc.digest() == swarmsim.load_scenario(
        {**HALVING, "policies": [{"kind": "custom", "class": "user_policies:HalveEveryHour"}]}).digest()

    class Local(HalveEveryHour):
        """Defined in a function: no module can import it, the scenario finds it by its name."""

    via_override = swarmsim.simulate(doc, overrides={"policies": [{"kind": "custom", "class": Local}]})
    assert [a[2] for a in halving_actions(via_override)] == [4, 2]
    assert set(via_override.actions["policy"]) == {"0:custom/Local"}
    # A loaded scenario given new overrides is dumped and validated again: the name finds the class.
    loaded = swarmsim.load_scenario(doc, overrides={"policies.0.class": Local})
    again = swarmsim.simulate(loaded, overrides={"seed": 1})
    assert set(again.actions["policy"]) == {"0:custom/Local"}


def write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text))


@pytest.mark.parametrize(("class_path", "message"), [
    ("nothere.py:Halve", r"no such file 'nothere.py' \(relative to .+\)"),
    ("halve.py:Halv", r"file 'halve.py' has no 'Halv' \(did you mean 'Halve'\?\)"),
    ("broken.py:X", r"cannot load 'broken.py': SyntaxError: .* \(line 2\)"),
    ("raising.py:X", r"cannot load 'raising.py': ZeroDivisionError"),
    ("halve.py", r"expected module:Class or path/to/file.py:Class, got 'halve.py'"),
    ("no_such_module:X", r"cannot import 'no_such_module'"),
    ("user_policies:Kaos", r"module 'user_policies' has no 'Kaos'"),
    ("halve.py:PolicyParams", r"PolicyParams has no pydantic Params model"),
])
def test_a_bad_class_is_one_message_naming_the_field(tmp_path: Path, class_path: str, message: str) -> None:
    write(tmp_path, "halve.py", HALVE_FILE)
    write(tmp_path, "broken.py", "class X:\n    def decide(self view): ...\n")
    write(tmp_path, "raising.py", "1 / 0\n")
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({**HALVING, "policies": [{"kind": "custom", "class": class_path}]}))
    with pytest.raises(swarmsim.ScenarioError) as err:
        swarmsim.load_scenario(file)
    assert len(err.value.problems) == 1
    where, text = err.value.problems[0]
    assert where.startswith("policies.0")
    assert re.search(message, text), text


def test_the_cli_names_the_field_and_exits_2(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({**HALVING, "policies": [{"kind": "custom", "class": "gone.py:Halve"}]}))
    out = subprocess.run([sys.executable, "-m", "swarmsim.cli", "validate", str(file)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert out.returncode == 2
    assert out.stderr.strip() == f"{file}: policies.0.class: no such file 'gone.py' (relative to {tmp_path})"


def test_a_changed_file_is_loaded_again(tmp_path: Path) -> None:
    write(tmp_path, "p.py", "class P:\n    version = 1\n")
    first: Any = load_class("p.py:P", str(tmp_path))
    assert first.version == 1
    assert load_class("p.py:P", str(tmp_path)) is load_class("p.py:P", str(tmp_path))  # loaded once
    write(tmp_path, "p.py", "class P:\n    version = 22\n")
    os.utime(tmp_path / "p.py", ns=(0, 10**18))  # a new modification time, whatever the clock's resolution
    changed: Any = load_class("p.py:P", str(tmp_path))
    assert changed.version == 22 and changed is not first


# --- check_policy: each kind of mistake, a PolicyError, never an assert ------------------------


class Good(Policy):
    default_interval_s = 60.0

    def decide(self, view: View) -> list[Action]:
        return [AddNodes(name, "a100x8", 1, reason="grow") for name, r in view.regions.items() if r.queued_jobs]


class NotPydantic(Good):
    pass


NotPydantic.Params = dict  # type: ignore[assignment]  # set after the class: __init_subclass__ refuses it


class RequiredParam(Good):
    class Params(PolicyParams):
        target: float  # no default: a scenario that gives none cannot run


class NoInterval(Good):
    default_interval_s = 0.0


class PositionalRng:
    Params = PolicyParams
    default_interval_s = 60.0

    def __init__(self, params: PolicyParams, rng: np.random.Generator) -> None:
        self.params = params

    def decide(self, view: View) -> list[Action]:
        return []


class ReturnsTuple(Good):
    def decide(self, view: View) -> list[Action]:
        return tuple(super().decide(view))  # type: ignore[return-value]


class ReturnsText(Good):
    def decide(self, view: View) -> list[Action]:
        return ["add a node"]  # type: ignore[list-item]


class UnknownRegion(Good):
    def decide(self, view: View) -> list[Action]:
        return [AddNodes("mars-1", "a100x8", 1)]


class UnknownType(Good):
    def decide(self, view: View) -> list[Action]:
        return [RemoveNodes("us-east", "tpu-v5", 1)]


class ZeroCount(Good):
    def decide(self, view: View) -> list[Action]:
        return [AddNodes("us-east", "a100x8", 0)]


class EmptyResize(Good):
    def decide(self, view: View) -> list[Action]:
        return [ResizeNodes("us-east", "a100x8", 1)]


class ChangesTheView(Good):
    def decide(self, view: View) -> list[Action]:
        view.extra["seen"] = True  # type: ignore[index]  # the mapping is shared with the world
        return []


class Unreproducible(Good):
    calls = 0

    def decide(self, view: View) -> list[Action]:
        Unreproducible.calls += 1  # state outside the policy: a second policy decides differently
        return [AddNodes("us-east", "a100x8", Unreproducible.calls)]


class Raises(Good):
    def decide(self, view: View) -> list[Action]:
        return [AddNodes(r.name, "a100x8", 8 // r.nodes) for r in view.regions.values()]


class ReadsUndeclared(Good):
    reads = frozenset({"active"})  # decide reads queued_jobs too


class ReadsNonField(Good):
    reads = frozenset({"queued_jobs", "queue_length"})


MISTAKES: list[tuple[type, str]] = [
    (NotPydantic, r"NotPydantic\.Params must be a pydantic model"),
    (RequiredParam, r"RequiredParam\.Params does not validate the defaults .*target: Field required"),
    (NoInterval, r"NoInterval\.default_interval_s must be a positive number of seconds, got 0\.0"),
    (PositionalRng, r"PositionalRng\.__init__ must take rng as a keyword-only argument"),
    (ReturnsTuple, r"ReturnsTuple\.decide must return a list of actions, got tuple"),
    (ReturnsText, r"ReturnsText\.decide returned 'add a node': not an action"),
    (UnknownRegion, r"unknown region 'mars-1'"),
    (UnknownType, r"unknown node type 'tpu-v5'"),
    (ZeroCount, r"count must be a positive int, got 0"),
    (EmptyResize, r"a resize must change something"),
    (ChangesTheView, r"ChangesTheView\.decide changed the view"),
    (Unreproducible, r"Unreproducible\.decide is not reproducible for one seed"),
    (Raises, r"Raises\.decide raised ZeroDivisionError: .*example view 1"),
    (ReadsUndeclared, r"ReadsUndeclared\.decide reads RegionView\.queued_jobs, not in ReadsUndeclared\.reads"),
    (ReadsNonField, r"ReadsNonField\.reads names \['queue_length'\], not fields of RegionView"),
]


def test_a_good_policy_passes() -> None:
    check_policy(Good)
    check_policy(BacklogScaler)
    check_policy(BacklogScaler, {"max_step": 1, "min_nodes": 0})


@pytest.mark.parametrize(("cls", "message"), MISTAKES, ids=[c.__name__ for c, _ in MISTAKES])
def test_check_policy_catches_each_mistake(cls: type, message: str) -> None:
    # pytest.raises, not assert: this test must check the same under python -O (next test).
    with pytest.raises(PolicyError, match=message):
        check_policy(cls)


def test_check_policy_catches_a_simpy_import(tmp_path: Path) -> None:
    write(tmp_path, "uses_simpy.py", '''
        """A policy that reaches for SimPy inside decide."""
        from swarmsim.policies import Policy


        class Sneaky(Policy):
            def decide(self, view):
                from simpy import Environment  # found anywhere in the module, not only at the top
                return []
    ''')
    with pytest.raises(PolicyError, match=r"imports simpy \(line 8\); policies decide on views only"):
        check_policy(load_class("uses_simpy.py:Sneaky", str(tmp_path)))


def test_forbidden_imports_reads_code_not_text() -> None:
    source = textwrap.dedent('''
        """Never `import simpy` here."""
        import simpyish
        import numpy as np  # import simpy
        import simpy.events
        from simpy import core
        from swarmsim.policies import simpy_free
        import importlib
        importlib.import_module("simpy")
        text = "from simpy import Environment"
    ''')
    assert forbidden_imports(source) == [(5, "simpy.events"), (6, "simpy"), (9, "simpy")]


def test_check_policy_checks_under_python_dash_o() -> None:
    """``python -O`` drops every ``assert``: the checks above must hold there too."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    stripped = subprocess.run([sys.executable, "-O", "-c", "assert False"], env=env, check=False)
    assert stripped.returncode == 0  # asserts are gone in this interpreter mode
    out = subprocess.run(
        [sys.executable, "-O", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         f"{Path(__file__)}::test_check_policy_catches_each_mistake",
         f"{Path(__file__)}::test_check_policy_catches_a_simpy_import"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    assert f"{len(MISTAKES) + 1} passed" in out.stdout


# --- the testing helpers decide as a full run does ---------------------------------------------

#: Two 8-GPU nodes at t = 0 and three 8-GPU jobs arriving at t = 0, 1, 2 s for 10 h: from t = 2 s
#: both nodes are full (16 busy GPUs) and one job waits (8 queued GPUs).
FULL: dict[str, Any] = {
    "name": "full", "horizon": "1h", "regions": {"us-east": {}},
    "node_types": {"a100x8": {"gpu": "A100-80GB", "gpus": 8, "usd_per_gpu_hour": 3.43,
                              "provision_time": {"dist": "constant", "value": "4m"}}},
    "fleet": {"us-east": {"a100x8": 2}},
    "workloads": {"w": {"kind": "jobs", "arrivals": {"process": "deterministic", "rate": "1/s", "start": 0,
                                                      "count": 3},
                        "origin": {"us-east": 1.0}, "gpus": 8, "duration": "10h"}},
}


def the_same_world_by_hand() -> View:
    """FULL at any t in [2 s, 4 min), built with swarmsim.policies.testing."""
    return cluster([region("us-east", pool("a100x8", sizes=(8, 8), busy=16, max_gpus=8),
                           pending=[(8, ("A100-80GB",), 1)])],
                   types=[node_type("a100x8", max_gpus=8, provision_time_s=240.0)])


@pytest.mark.parametrize(("policy", "params", "expected"), [
    # demand (16 busy + 8 queued) / 16 ready = 1.50; / 0.7 = 2.14; ceil(2.14 x 2 ready) = 5 nodes: add 3.
    ("horizontal/target-tracking", {}, AddNodes("us-east", "a100x8", 3, reason=(
        "demand 1.50 / target 0.70 = 2.14 on 2 ready: desired 5 (live 2)"))),
    # 8 queued GPUs, none free or provisioning: one 8-GPU node covers them.
    ("backlog", {"min_nodes": 2}, AddNodes("us-east", "a100x8", 1, reason=(
        "8 GPUs queued, 0 free, 0 provisioning"))),
], ids=["target-tracking", "backlog"])
def test_the_testing_helpers_give_the_decision_of_a_full_run(policy: str, params: dict[str, Any],
                                                             expected: AddNodes) -> None:
    cls: type[Policy[Any]] = BacklogScaler if policy == "backlog" else TargetTracking
    if policy == "backlog":
        spec = {"kind": "custom", "class": BacklogScaler, "params": params}
    else:
        spec = {"kind": "horizontal", "strategy": "target-tracking", **params}
    res = swarmsim.simulate({**FULL, "policies": [spec]})
    first = res.actions.iloc[0]
    clock = FakeClock.every(cls)
    by_hand = clock.decide(cls(params), the_same_world_by_hand())
    assert by_hand == [expected]
    assert first["time_decided_s"] == clock.now_s == cls.default_interval_s  # the first decision
    assert (first["action"], first["region"], first["node_type"], first["count"], first["reason"]) == (
        "AddNodes", expected.region, expected.node_type, expected.count, expected.reason)


def test_the_fake_clock_moves_time_as_the_control_loop() -> None:
    clock = FakeClock(60.0)
    quiet = cluster([region("us-east", pool("a100x8", sizes=(8,) * 6, busy=0))])
    policy = BacklogScaler({"idle_after": "15m", "min_nodes": 4})
    decisions = [clock.decide(policy, quiet) for _ in range(16)]
    # Quiet since the first decision (t = 60 s): nothing until 15 min later, at t = 960 s, when it
    # removes the 2 idle nodes above min_nodes.
    assert all(d == [] for d in decisions[:15]) and clock.now_s == 960.0
    assert decisions[15] == [RemoveNodes("us-east", "a100x8", 2, reason="no queue for 900 s, 6 idle nodes")]
    assert clock.advance(40.0) == 1000.0 and clock.at(quiet).time_s == 1000.0
    with pytest.raises(ValueError, match="positive number of seconds"):
        FakeClock(0.0)


# --- the example of docs/policies.md, end to end -----------------------------------------------


def test_the_documented_example_runs_end_to_end() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "compare_policy.py"), "--seeds", "2",
                          "--jobs", "1"], capture_output=True, text=True, cwd=ROOT, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr[-2000:]
    means = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in out.stdout.splitlines()
             if line.split()[:1] in (["static"], ["backlog"], ["target-tracking"]) and len(line.split()) == 4}
    assert set(means) == {"static", "backlog", "target-tracking"}
    wait, cost = 0, 1  # columns job_wait_p95_s, cost_usd
    # The queue-sized pool waits far less than the fixed fleet of 6 nodes after demand doubles;
    # target tracking (at 70 % of demand) buys the shortest waits with the most nodes.
    assert means["backlog"][wait] < 0.25 * means["static"][wait]
    assert means["target-tracking"][wait] <= means["backlog"][wait]
    assert means["target-tracking"][cost] > max(means["static"][cost], means["backlog"][cost])
    assert "paired difference against static" in out.stdout
