"""The rl_tf plugin loads through its entry point and imports no framework while doing so."""

from __future__ import annotations

from rlcore.testing import check_plugin, check_plugins_import_light


def test_plugin_is_discovered_through_its_entry_point():
    check_plugin("tf", module="rl_tf.plugin")


def test_loading_the_plugin_imports_no_framework():
    check_plugins_import_light()


def test_registered_names_resolve_to_the_classes():
    import rlcore
    from rl_tf import plugin

    spec = rlcore.get_spec("policy", "PPO", "tf")
    assert spec.plugin == "tf" and spec.distribution == "rlcore-tf"
    from rl_tf.models import FullyConnectedNetwork, LSTMNetwork, VisionNetwork
    from rl_tf.ppo import PPOTFPolicy

    assert rlcore.get_policy_class("PPO", "tf") is PPOTFPolicy
    assert spec.capabilities == PPOTFPolicy.capabilities == frozenset(plugin.PPO_CAPABILITIES)
    assert rlcore.get_model_builder("fc", "tf") is FullyConnectedNetwork
    assert rlcore.get_model_builder("vision", "tf") is VisionNetwork
    assert rlcore.get_model_builder("lstm", "tf") is LSTMNetwork


def test_dqn_is_registered_with_its_capabilities():
    import rlcore
    from rl_tf import plugin
    from rl_tf.dqn import DQNTFPolicy

    spec = rlcore.get_spec("policy", "DQN", "tf")
    assert rlcore.get_policy_class("DQN", "tf") is DQNTFPolicy
    assert spec.capabilities == DQNTFPolicy.capabilities == frozenset(plugin.DQN_CAPABILITIES)


def test_the_evaluator_of_a_pair_is_the_rollout_evaluator_around_the_policy():
    """rl_tf registers policies only: (PPO, tf), (A3C, tf) and (DQN, tf) run in the core's RolloutEvaluator."""
    import rlcore
    from rlcore.rollout_evaluator import RolloutEvaluator

    for algo, postprocess in (("PPO", "postprocess_ppo"), ("A3C", "postprocess_a3c"), ("DQN", "postprocess_dqn")):
        cls, kwargs = rlcore.resolve_evaluator(algo, "tf")
        assert cls is RolloutEvaluator
        assert kwargs["policy"] == f"rl_tf.{algo.lower()}:{algo}TFPolicy"
        assert str(kwargs["postprocess"]).endswith(postprocess)


def test_a3c_is_registered_with_its_capabilities():
    import rlcore
    from rl_tf import plugin
    from rl_tf.a3c import A3CTFPolicy

    spec = rlcore.get_spec("policy", "A3C", "tf")
    assert rlcore.get_policy_class("A3C", "tf") is A3CTFPolicy
    assert spec.capabilities == A3CTFPolicy.capabilities == frozenset(plugin.A3C_CAPABILITIES)
    assert "recurrent" in spec.capabilities and "multi_device" not in spec.capabilities
