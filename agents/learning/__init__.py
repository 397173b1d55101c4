"""Learned policies for envcore (pure Python + torch, no Django).

- ``policy``: a masked MLP actor-critic and its checkpoint format.
- ``ppo``: a seeded, vectorised PPO trainer with action masking.
- ``encoding``: the gym adapter's observation encoding rebuilt from a wire observation.
- ``agent``: a checkpoint as an ``agents.policies``-style policy.
"""
