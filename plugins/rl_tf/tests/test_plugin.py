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

    spec = rlcore.get_spec("evaluator", "PPO", "tf")
    assert spec.plugin == "tf" and spec.distribution == "rlcore-tf"
    from rl_tf.models import FullyConnectedNetwork, VisionNetwork
    from rl_tf.ppo import PPOTFEvaluator

    assert rlcore.get_evaluator_class("PPO", "tf") is PPOTFEvaluator
    assert spec.capabilities == PPOTFEvaluator.capabilities == frozenset(plugin.PPO_CAPABILITIES)
    assert rlcore.get_model_builder("fc", "tf") is FullyConnectedNetwork
    assert rlcore.get_model_builder("vision", "tf") is VisionNetwork


def test_dqn_is_registered_with_its_capabilities():
    import rlcore
    from rl_tf import plugin
    from rl_tf.dqn import DQNTFEvaluator

    spec = rlcore.get_spec("evaluator", "DQN", "tf")
    assert rlcore.get_evaluator_class("DQN", "tf") is DQNTFEvaluator
    assert spec.capabilities == DQNTFEvaluator.capabilities == frozenset(plugin.DQN_CAPABILITIES)
