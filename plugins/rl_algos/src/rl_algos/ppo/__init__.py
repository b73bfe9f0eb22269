"""Proximal Policy Optimization: config schema, GAE postprocessing, numpy reference loss, trainer."""

from rl_algos.ppo.config import DEFAULT_CONFIG, SCHEMA
from rl_algos.ppo.postprocessing import postprocess_ppo
from rl_algos.ppo.trainer import PPO, update_kl_coeff

__all__ = ["DEFAULT_CONFIG", "PPO", "SCHEMA", "postprocess_ppo", "update_kl_coeff"]
