"""Scaling policies: the views a policy reads, the actions it returns, the base class, the
conformance check, and the built-in strategies (:mod:`swarmsim.policies.registry`).

Everything a researcher writing a policy needs is importable from here::

    from swarmsim.policies import AddNodes, Policy, PolicyParams, RemoveNodes, View, check_policy
    from swarmsim.policies.testing import FakeClock, cluster, pool, region   # for unit tests

docs/policies.md, "Writing a policy", walks through one from nothing to a comparison over seeds.
"""

from swarmsim.policies.actions import (
    Action,
    AddNodes,
    AddReplicas,
    CloseRegion,
    OpenRegion,
    RemoveNodes,
    RemoveReplicas,
    ResizeNodes,
)
from swarmsim.policies.base import Policy, PolicyParams, PolicyParamsError
from swarmsim.policies.protocol import SIGNALS, PolicyError, check_policy, declared_reads, forbidden_imports
from swarmsim.policies.views import (
    ClusterView,
    NodeTypeView,
    PendingView,
    PoolView,
    RegionView,
    ServiceView,
    SiteView,
    WorkloadView,
)

#: What ``decide`` receives: the snapshot of the whole world (a :class:`ClusterView`).
View = ClusterView

__all__ = [
    "SIGNALS",
    "Action",
    "AddNodes",
    "AddReplicas",
    "CloseRegion",
    "ClusterView",
    "NodeTypeView",
    "OpenRegion",
    "PendingView",
    "Policy",
    "PolicyError",
    "PolicyParams",
    "PolicyParamsError",
    "PoolView",
    "RegionView",
    "RemoveNodes",
    "RemoveReplicas",
    "ResizeNodes",
    "ServiceView",
    "SiteView",
    "View",
    "WorkloadView",
    "check_policy",
    "declared_reads",
    "forbidden_imports",
]
