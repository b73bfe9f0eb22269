"""A3C and A2C: config schemas, GAE postprocessing, numpy reference loss, trainers."""

from rl_algos.a3c.config import A2C_DEFAULT_CONFIG, A2C_SCHEMA, DEFAULT_CONFIG, SCHEMA
from rl_algos.a3c.postprocessing import postprocess_a3c
from rl_algos.a3c.trainer import A2C, A3C

__all__ = ["A2C", "A2C_DEFAULT_CONFIG", "A2C_SCHEMA", "A3C", "DEFAULT_CONFIG", "SCHEMA", "postprocess_a3c"]
