"""The rlcore plugin of rlcore-optimizers. Imports no framework and no Ray."""

from __future__ import annotations

from rlcore import hookimpl


@hookimpl
def rlcore_register_optimizers(register):
    """Register the optimizers of this distribution (lazy targets)."""
    register(
        "LocalSyncOptimizer",
        "rl_optimizers.sync:LocalSyncOptimizer",
        summary="synchronous sampling, minibatch SGD on the local evaluator",
    )
    register(
        "LocalMultiGPUOptimizer",
        "rl_optimizers.multi_gpu:LocalMultiGPUOptimizer",
        summary="batch loaded once per device, SGD epochs with towers averaged",
    )
    register(
        "AsyncOptimizer",
        "rl_optimizers.async_grads:AsyncOptimizer",
        summary="gradients computed on remote evaluators, applied on the local one as they arrive (A3C)",
    )
    register(
        "LocalSyncReplayOptimizer",
        "rl_optimizers.replay_optimizer:LocalSyncReplayOptimizer",
        summary="sampling into a (prioritized) replay buffer, learning on replayed batches (DQN)",
    )
    register(
        "ApexOptimizer",
        "rl_optimizers.apex:ApexOptimizer",
        summary="distributed prioritized replay: workers push to replay shard actors, a learner thread replays (Ape-X)",
    )
