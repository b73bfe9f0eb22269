"""A format-2 checkpoint whose acting spec lies about its policy (issue 16 review).

Each case copies a checkpoint frozen by rlcore 0.2.0 (or forges one with real catalog weights),
edits its acting spec (``checkpoint.json``'s ``"policy"``) and writes a valid digest, as a tool or
a person editing the file would. ``rlcore.policy.load`` must refuse each with one
``CheckpointError`` saying what does not fit, never a ``ValueError`` from inside numpy or a
``MemoryError`` from allocating what an edited shape asks for.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rlcore.policy
from rlcore.checkpoint import META_FILE, _digest, write_checkpoint
from rlcore.errors import CheckpointError
from rlcore.models import ModelCatalog
from rlcore.models.catalog import resolve_model_config
from rlcore.models.layout import init_weights, vision_layout
from rlcore.space_codec import space_to_json

pytestmark = pytest.mark.reliability

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "checkpoints" / "0.2.0"
PPO = FIXTURES / "ppo_torch" / "checkpoint_000015"
DQN = FIXTURES / "dqn_torch" / "checkpoint_000012"


def _edited(src: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of ``src`` whose acting spec ``edit`` changed, its digest recomputed."""
    path = tmp_path / src.name
    shutil.copytree(src, path)
    meta = json.loads((path / META_FILE).read_text())
    edit(meta["policy"])
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    return path


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.__setitem__(key, value)


def _set_model(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["model"].__setitem__(key, value)


IMAGE = {"type": "Box", "dtype": "uint8", "low": 0, "high": 255, "shape": [84, 84, 3]}

LIES = [
    # (id, checkpoint, edit, what the error names)
    ("q-head-hiddens-a-string", DQN, _set("q_head", {"hiddens": "ab", "dueling": False}), "q_head"),
    ("q-head-a-list", DQN, _set("q_head", [16]), "q_head"),
    ("q-head-negative-size", DQN, _set("q_head", {"hiddens": [-1], "dueling": False}), "q_head"),
    ("q-head-on-a-dist-policy", PPO, _set("q_head", {"hiddens": "ab", "dueling": False}), "q_head"),
    ("framestack-of-a-billion", PPO, _set_model("framestack", 10**9), "framestack|values|frame stack"),
    ("framestack-4", PPO, _set_model("framestack", 4), "'fc_0/kernel' has shape \\[4, 16\\], expected \\[16, 16\\]"),
    ("model-kind-vision-over-fc-weights", PPO, _set("model_kind", "vision"), "model_kind"),
    ("image-observations-over-fc-weights", PPO, _set("observation_space", IMAGE), "model_kind|conv_0/kernel"),
    ("three-actions-over-two-logits", PPO, _set("action_space", {"type": "Discrete", "n": 3, "start": 0}), "logits"),
    ("lstm-over-fc-weights", PPO, _set_model("use_lstm", True), "lstm"),
    ("q-outputs-over-dist-weights", PPO, _set("action_outputs", "q"), "q_out/kernel"),
    ("dist-outputs-over-q-weights", DQN, _set("action_outputs", "dist"), "logits/kernel"),
]


@pytest.mark.parametrize(("src", "edit", "names"), [c[1:] for c in LIES], ids=[c[0] for c in LIES])
def test_a_spec_that_lies_about_its_fc_policy_is_refused(tmp_path: Path, src: Path, edit: Any, names: str) -> None:
    path = _edited(src, tmp_path, edit)
    with pytest.raises(CheckpointError, match=names) as info:
        rlcore.policy.load(path)
    assert str(path) in str(info.value)


def test_vision_weights_under_a_spec_that_says_fc_are_refused(tmp_path: Path) -> None:
    """Real catalog vision weights (conv_i, logits, value on an 8x8x1 image resized to 84x84) in a checkpoint whose
    spec says flat observations of 64 values (an fc model): refused naming the first fc parameter
    missing; the honest spec acts."""
    from gymnasium import spaces

    image = spaces.Box(0, 255, (8, 8, 1), np.uint8)
    model = resolve_model_config({"conv_filters": [[4, [3, 3], 2], [8, [4, 4], 1]]})
    shape = tuple(ModelCatalog.get_preprocessor(image, model).shape)  # resized to model["dim"]
    weights = init_weights(vision_layout(shape, 2, model), seed=0)
    spec = {
        "observation_space": space_to_json(image),
        "action_space": space_to_json(spaces.Discrete(2)),
        "policy_class": None,
        "framework": "torch",
        "action_outputs": "dist",
        "model": model,
        "model_kind": "vision",
        "q_head": None,
        "observation_filter": "NoFilter",
        "clip_actions": True,
        "weights": ["evaluator", "weights"],
    }
    meta = {
        "algorithm": "PPO",
        "framework": "torch",
        "env": "PixelGrid-v0",
        "config": {"env_config": {}},
        "iteration": 1,
        "timesteps_total": 1,
        "versions": {"rlcore": "0.2.0"},
    }
    state = {"evaluator": {"weights": weights, "filter": {}, "global_vars": {}}}
    honest = write_checkpoint(tmp_path / "honest" / "checkpoint_000001", state, {**meta, "policy": spec})
    assert rlcore.policy.load(honest).compute_action(np.zeros((8, 8, 1), np.uint8)) in (0, 1)
    flat = {**spec, "observation_space": space_to_json(spaces.Box(0, 255, (64,), np.uint8)), "model_kind": "fc"}
    lying = write_checkpoint(tmp_path / "lying" / "checkpoint_000001", state, {**meta, "policy": flat})
    with pytest.raises(CheckpointError, match=r"'fc_0/kernel' \(shape \[64, 256\]\) is missing") as info:
        rlcore.policy.load(lying)
    assert "do not fit the catalog fc model" in str(info.value)
