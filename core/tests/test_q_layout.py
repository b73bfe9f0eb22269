"""The Q network of DQN-family algorithms in core: :func:`rlcore.models.layout.q_layout` for flat and
image observations, :meth:`ModelCatalog.build_q_model` (the ``"q"`` model kind) with a numpy builder
registered here, and :meth:`ModelPolicy.q_layout` on image observations (acting through the
policy's own forward: the numpy mirror covers fc Q networks only)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, UnknownNameError, UnsupportedOperationError
from rlcore.model_policy import ModelPolicy
from rlcore.models import MODEL_KINDS, ModelCatalog
from rlcore.models.layout import Param, conv_layers, init_weights, q_layout, same_padding, vision_layout
from rlcore.models.numpy_forward import NumpyQForward
from rlcore.registration import register_model
from rlcore.sample_batch import SampleBatch

FC = {"fcnet_hiddens": [8, 6]}


def shapes(params: list[Param]) -> list[tuple[str, tuple[int, ...]]]:
    return [(p.name, p.shape) for p in params]


# -- q_layout ------------------------------------------------------------------------------------------


def test_the_flat_q_layout_keeps_its_names_and_shapes():
    """An int (as before issue 14) and a 1-D shape give the same fc trunk and head."""
    plain = [
        ("fc_0/kernel", (4, 8)),
        ("fc_0/bias", (8,)),
        ("fc_1/kernel", (8, 6)),
        ("fc_1/bias", (6,)),
        ("q_fc_0/kernel", (6, 5)),
        ("q_fc_0/bias", (5,)),
        ("q_out/kernel", (5, 3)),
        ("q_out/bias", (3,)),
    ]
    assert shapes(q_layout(4, 3, FC, [5], False)) == plain
    assert shapes(q_layout((4,), 3, FC, [5], False)) == plain
    assert shapes(q_layout(np.int64(4), 3, FC, [5], False)) == plain
    dueling = shapes(q_layout((4,), 3, FC, [5], True))
    assert dueling == [
        *plain[:4],
        ("advantage_fc_0/kernel", (6, 5)),
        ("advantage_fc_0/bias", (5,)),
        ("advantage_out/kernel", (5, 3)),
        ("advantage_out/bias", (3,)),
        ("state_value_fc_0/kernel", (6, 5)),
        ("state_value_fc_0/bias", (5,)),
        ("state_value_out/kernel", (5, 1)),
        ("state_value_out/bias", (1,)),
    ]
    assert shapes(q_layout(4, 2, {"fcnet_hiddens": []}, [], False)) == [("q_out/kernel", (4, 2)), ("q_out/bias", (2,))]
    # a shape of another rank is the flattened observation, as the catalog's fc model takes it
    assert shapes(q_layout((2, 3), 3, FC, [5], False)) == shapes(q_layout(6, 3, FC, [5], False))


def test_the_image_q_layout_is_the_vision_trunk_then_the_same_head():
    config = ModelCatalog.resolve_model_config({"conv_filters": [[4, [3, 3], 2], [6, [4, 4], 1]]})
    params = q_layout((16, 16, 2), 3, config, [7], True)
    vision = vision_layout((16, 16, 2), 3, config)
    trunk = [p for p in vision if p.name.startswith("conv_")]
    assert params[: len(trunk)] == trunk  # names, shapes and initializers exactly the vision model's
    assert shapes(trunk) == [
        ("conv_0/kernel", (3, 3, 2, 4)),
        ("conv_0/bias", (4,)),
        ("conv_1/kernel", (4, 4, 4, 6)),
        ("conv_1/bias", (6,)),
    ]
    flat = 5 * 5 * 6  # 16 -> 8 (SAME, stride 2) -> 5 (VALID 4x4): NHWC features
    assert shapes(params[len(trunk) :]) == [
        ("advantage_fc_0/kernel", (flat, 7)),
        ("advantage_fc_0/bias", (7,)),
        ("advantage_out/kernel", (7, 3)),
        ("advantage_out/bias", (3,)),
        ("state_value_fc_0/kernel", (flat, 7)),
        ("state_value_fc_0/bias", (7,)),
        ("state_value_out/kernel", (7, 1)),
        ("state_value_out/bias", (1,)),
    ]
    plain = q_layout((16, 16, 2), 3, config, [], False)
    assert shapes(plain[len(trunk) :]) == [("q_out/kernel", (flat, 3)), ("q_out/bias", (3,))]
    assert "fc_0/kernel" not in {p.name for p in params}  # fcnet_hiddens is the flat trunk's only


def test_the_image_q_layout_takes_the_catalogs_default_filters():
    """conv_filters None: the catalog's filters for the shape (RLlib's for 84x84: 1x1x256 features)."""
    atari = q_layout((84, 84, 4), 6, ModelCatalog.resolve_model_config({}), [512], True)
    assert shapes(atari)[:6] == [
        ("conv_0/kernel", (8, 8, 4, 16)),
        ("conv_0/bias", (16,)),
        ("conv_1/kernel", (4, 4, 16, 32)),
        ("conv_1/bias", (32,)),
        ("conv_2/kernel", (11, 11, 32, 256)),
        ("conv_2/bias", (256,)),
    ]
    assert dict(shapes(atari))["advantage_fc_0/kernel"] == (256, 512)
    small = q_layout((16, 16, 1), 3, {}, [], False)
    assert [p.name for p in small] == [
        "conv_0/kernel",
        "conv_0/bias",
        "conv_1/kernel",
        "conv_1/bias",
        "q_out/kernel",
        "q_out/bias",
    ]
    assert dict(shapes(small))["q_out/kernel"] == (256, 3)


def test_conv_filters_that_do_not_fit_the_image_are_refused():
    with pytest.raises(ConfigError, match=r"conv_filters .* shrink a \(8, 8\) image below 1x1 at layer 1"):
        q_layout((8, 8, 1), 2, {"conv_filters": [[4, [3, 3], 2], [4, [5, 5], 1]]}, [], False)


def test_image_q_weights_initialize_deterministically():
    params = q_layout((12, 12, 1), 3, {"conv_filters": [[4, [3, 3], 2], [8, [6, 6], 1]]}, [4], True)
    a, b = init_weights(params, seed=3), init_weights(params, seed=3)
    assert list(a) == [p.name for p in params]
    assert all(np.array_equal(a[k], b[k]) and a[k].dtype == np.float32 for k in a)
    assert not np.any(a["conv_0/bias"]) and np.any(a["conv_0/kernel"])


# -- a numpy Q network: the layout computed (the conv convention of the layout module) -------------


def conv_forward(x: np.ndarray, weights: dict[str, np.ndarray], filters: list[Any]) -> np.ndarray:
    """The conv trunk of the layout in numpy: NHWC, HWIO kernels, SAME but the last (VALID), ReLU,
    then the NHWC flatten."""
    for layer in conv_layers(x.shape[1:], filters):
        kernel, bias = weights[f"{layer.name}/kernel"], weights[f"{layer.name}/bias"]
        (kh, kw), s = layer.kernel, layer.stride
        if layer.padding == "SAME":
            x = np.pad(x, ((0, 0), same_padding(x.shape[1], kh, s), same_padding(x.shape[2], kw, s), (0, 0)))
        oh, ow = layer.out_hw
        out = np.zeros((len(x), oh, ow, layer.out_channels), np.float32)
        for i in range(kh):
            for j in range(kw):
                out += x[:, i : i + s * oh : s, j : j + s * ow : s, :] @ kernel[i, j]
        x = np.maximum(out + bias, 0.0)
    return x.reshape(len(x), -1)


class NumpyQNetwork:
    """What a framework's ``q`` builder returns, in numpy: the weights of :func:`q_layout` and a forward."""

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        num_actions: int,
        model_config: dict[str, Any],
        *,
        hiddens: list[int],
        dueling: bool,
        seed: int | None = None,
    ) -> None:
        self.args = (obs_shape, num_actions, model_config, hiddens, dueling, seed)
        self.layout = q_layout(obs_shape, num_actions, model_config, hiddens, dueling)
        self.weights = init_weights(self.layout, seed)
        self.image = len(obs_shape) == 3
        head_config = {**model_config, "fcnet_hiddens": []} if self.image else model_config
        self.head = NumpyQForward(head_config, hiddens, dueling)
        self.head.set_weights(self.weights)

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        self.head.set_weights(self.weights)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if self.image:
            obs = conv_forward(obs, self.weights, self.args[2]["conv_filters"])
        return self.head(obs)


@pytest.fixture
def numpy_q(rlcore_registry):
    """``("q", "numpy_q")`` registered to :class:`NumpyQNetwork` in an empty registry."""
    register_model("q", "numpy_q", NumpyQNetwork)
    return "numpy_q"


def test_q_is_a_model_kind():
    assert "q" in MODEL_KINDS


def test_build_q_model_calls_the_registered_builder_with_the_resolved_config(numpy_q):
    net = ModelCatalog.build_q_model((4,), 3, {"fcnet_hiddens": [8]}, numpy_q, hiddens=(5,), dueling=True, seed=2)
    shape, n, config, hiddens, dueling, seed = net.args
    assert (shape, n, hiddens, dueling, seed) == ((4,), 3, [5], True, 2)
    assert config == ModelCatalog.resolve_model_config({"fcnet_hiddens": [8]})
    assert config["conv_filters"] is None  # flat observations: no filters filled in
    assert net(np.zeros((2, 4), np.float32)).shape == (2, 3)

    image = ModelCatalog.build_q_model([16, 16, 1], 3, None, numpy_q, hiddens=[], dueling=False)
    assert image.args[0] == (16, 16, 1) and image.args[5] is None
    assert image.args[2]["conv_filters"] == ModelCatalog.get_filter_config((16, 16, 1))
    q = image(np.random.default_rng(0).uniform(size=(5, 16, 16, 1)))
    assert q.shape == (5, 3) and np.all(np.isfinite(q))
    own = [[4, [3, 3], 2], [8, [8, 8], 1]]
    assert (
        ModelCatalog.build_q_model((16, 16, 1), 3, {"conv_filters": own}, numpy_q, hiddens=[], dueling=False).args[2][
            "conv_filters"
        ]
        == own
    )


def test_the_numpy_image_q_network_computes_the_layouts_conv_convention():
    """One 2x2 stride-1 SAME conv then a 1x1 VALID conv on a 3x3 image, by hand: TensorFlow's SAME pads
    nothing before and one after (``same_padding(3, 2, 1) == (0, 1)``)."""
    assert same_padding(3, 2, 1) == (0, 1)
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    w = {
        "conv_0/kernel": np.ones((2, 2, 1, 1), np.float32),
        "conv_0/bias": np.zeros(1, np.float32),
        "conv_1/kernel": np.ones((1, 1, 1, 1), np.float32),
        "conv_1/bias": np.zeros(1, np.float32),
    }
    out = conv_forward(x, w, [[1, [2, 2], 1], [1, [1, 1], 1]])
    # sums of each 2x2 window (zero padded right and below), in row-major (NHWC) order
    assert out.tolist() == [[8.0, 12.0, 7.0, 20.0, 24.0, 13.0, 13.0, 15.0, 8.0]]


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (
            {"use_lstm": True},
            r"model config use_lstm=True is not supported for Q networks .* Set model.use_lstm to false",
        ),
        ({"custom_model": "mine"}, r"custom_model='mine' is not supported for Q networks .* Drop model.custom_model"),
    ],
)
def test_build_q_model_refuses_lstm_and_custom_models(numpy_q, model, words):
    with pytest.raises(UnsupportedOperationError, match=words):
        ModelCatalog.build_q_model((4,), 2, model, numpy_q, hiddens=[], dueling=False)


@pytest.mark.parametrize("hiddens", [[0], [-3], ["64"], [True], "64", 64, [1.5]])
def test_build_q_model_refuses_bad_head_sizes(numpy_q, hiddens):
    with pytest.raises(ConfigError, match=r"config 'hiddens' \(the Q head's layer sizes\) must be a list of positive"):
        ModelCatalog.build_q_model((4,), 2, None, numpy_q, hiddens=hiddens, dueling=False)


def test_build_q_model_checks_the_model_config(numpy_q):
    with pytest.raises(ConfigError, match=r"fcnet_hidden"):
        ModelCatalog.build_q_model((4,), 2, {"fcnet_hidden": [8]}, numpy_q, hiddens=[], dueling=False)
    with pytest.raises(ConfigError, match=r"no default conv filters for images of shape \[4096, 4096, 1\]"):
        ModelCatalog.build_q_model((4096, 4096, 1), 2, None, numpy_q, hiddens=[], dueling=False)


def test_build_q_model_in_a_framework_without_a_q_builder_names_the_pair(rlcore_registry):
    register_model("fc", "numpy_q", NumpyQNetwork)  # an fc builder alone does not build Q networks
    with pytest.raises(UnknownNameError, match=r"unknown model 'q/numpy_q'"):
        ModelCatalog.build_q_model((4,), 2, None, "numpy_q", hiddens=[], dueling=False)
    with pytest.raises(UnknownNameError, match=r"unknown model 'q/nonexistent'"):
        ModelCatalog.build_q_model((84, 84, 4), 2, None, "nonexistent", hiddens=[], dueling=False)


# -- ModelPolicy on image observations -------------------------------------------------------------------


class NumpyQPolicy(ModelPolicy):
    """A Q policy whose network comes from the catalog (``build_q_model``): fc or vision."""

    framework: ClassVar[str] = "numpy_q"
    action_outputs = "q"
    capabilities = frozenset({"discrete"})
    loss_columns: ClassVar[tuple[str, ...]] = (sb.OBS, sb.ACTIONS)
    forward_calls = 0

    def build(self) -> None:
        self.net = self.build_q_model()

    def model_layout(self) -> list[Param]:
        return self.q_layout()

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        NumpyQPolicy.forward_calls += 1
        q = self.net(obs)
        return q, q.max(axis=1)

    def _compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {k: np.zeros_like(v) for k, v in self.net.weights.items()}, {"loss": 0.0}

    def _apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        pass

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        return {"loss": 0.0}

    def _loss(self, batch: SampleBatch) -> float:
        return 0.0

    def _get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.net.weights.items()}

    def _set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.net.set_weights(weights)


IMAGE = gym.spaces.Box(0.0, 1.0, (16, 16, 1), np.float32)
POLICY_CONFIG = {"model": {"conv_filters": [[4, [4, 4], 2], [8, [8, 8], 1]]}, "hiddens": [6], "dueling": True}


def test_a_q_policy_on_images_has_the_vision_q_layout_and_acts_through_its_forward(numpy_q):
    p = NumpyQPolicy(IMAGE, gym.spaces.Discrete(3), POLICY_CONFIG, seed=0)
    assert p.model_kind == "vision"
    model = ModelCatalog.resolve_model_config(POLICY_CONFIG["model"])
    assert p.layout == q_layout((16, 16, 1), 3, model, [6], True)
    assert [q.name for q in p.layout][:4] == ["conv_0/kernel", "conv_0/bias", "conv_1/kernel", "conv_1/bias"]
    assert p._mirror is None  # the numpy mirror is the fc Q network's only
    obs = np.random.default_rng(1).uniform(size=(4, 16, 16, 1)).astype(np.float32)
    before = NumpyQPolicy.forward_calls
    actions, _, _ = p.compute_actions(obs, explore=False)
    assert NumpyQPolicy.forward_calls == before + 1
    np.testing.assert_array_equal(actions, p.forward(obs)[0].argmax(axis=1))
    weights = p.get_weights()
    assert set(weights) == {q.name for q in p.layout}
    p.set_weights({k: v * 0 for k, v in weights.items()})  # checked against the vision Q layout
    assert not np.any(p.forward(obs)[0])
    with pytest.raises(ConfigError, match="weights do not fit"):
        p.set_weights({k: v for k, v in weights.items() if k != "conv_0/kernel"})


def test_a_flat_q_policy_keeps_the_numpy_mirror(numpy_q):
    p = NumpyQPolicy(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), {"hiddens": [4]}, seed=0)
    assert p.model_kind == "fc" and p._mirror is not None
    assert p.layout == q_layout(3, 2, p.model_config, [4], False)
    before = NumpyQPolicy.forward_calls
    obs = np.ones((2, 3), np.float32)
    actions, _, _ = p.compute_actions(obs, explore=False)
    assert NumpyQPolicy.forward_calls == before  # acted through the mirror
    np.testing.assert_array_equal(actions, p.forward(obs)[0].argmax(axis=1))


def test_a_q_policy_refuses_an_lstm_model(numpy_q):
    """use_lstm: refused before any network is built (the policy is not recurrent)."""
    with pytest.raises(
        UnsupportedOperationError, match=r"does not support recurrent models \(model config use_lstm=True\)"
    ):
        NumpyQPolicy(IMAGE, gym.spaces.Discrete(3), {"model": {"use_lstm": True}}, seed=0)


def test_the_flat_size_of_the_image_q_trunk_is_the_last_conv_layers_output():
    for shape in [(16, 16, 1), (42, 42, 3), (84, 84, 4), (10, 20, 2)]:
        filters = ModelCatalog.get_filter_config(shape)
        last = conv_layers(shape, filters)[-1]
        params = dict(shapes(q_layout(shape, 2, {"conv_filters": filters}, [], False)))
        assert params["q_out/kernel"] == (math.prod(last.out_hw) * last.out_channels, 2), shape
