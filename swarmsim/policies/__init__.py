"""Scaling policies: views, actions, the policy protocol and built-in strategies."""
