"""Deep Q-Networks: config schema, n-step postprocessing, numpy reference loss, trainer."""

from rl_algos.dqn.config import DEFAULT_CONFIG, SCHEMA
from rl_algos.dqn.postprocessing import postprocess_dqn
from rl_algos.dqn.trainer import DQN

__all__ = ["DEFAULT_CONFIG", "DQN", "SCHEMA", "postprocess_dqn"]
