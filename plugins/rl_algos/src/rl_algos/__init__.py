"""Reference algorithms for rlcore: PPO, A3C, DQN, Ape-X, ES."""

__version__ = "0.2.0"
