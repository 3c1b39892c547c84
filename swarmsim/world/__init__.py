"""The SimPy model: regions, nodes, network, scheduler and the world that runs them."""

from swarmsim.world.world import World, build_world, run_world

__all__ = ["World", "build_world", "run_world"]
