"""The model catalog: from spaces and model config to preprocessor, action distribution and model.

The catalog is framework-agnostic. It picks a *kind* of model (one of :data:`MODEL_KINDS`, or
``"custom"``) and asks the builder that a framework plugin registered for ``(kind, framework)``
(``rlcore_register_models``) to build it as ``builder(obs_shape, num_outputs, model_config)``,
where ``obs_shape`` is the preprocessor's output shape and ``model_config`` the resolved config.

Vision models follow RLlib's convention for ``conv_filters`` (``[[out_channels, [kh, kw],
stride], ...]``): every layer but the last uses "same" padding, the last "valid" padding, so
the default filters of :meth:`ModelCatalog.get_filter_config` shrink the image to 1x1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlcore.config import merge_config
from rlcore.errors import ConfigError, UnknownNameError, UnsupportedOperationError, did_you_mean
from rlcore.models.preprocessors import FrameStackPreprocessor, Preprocessor, preprocessor_for
from rlcore.registration import get_model_builder

#: Default model config (RLlib 2018 keys). ``custom_model_config`` is open: any keys go.
MODEL_DEFAULTS: dict[str, Any] = {
    # fully connected nets
    "fcnet_hiddens": [256, 256],
    "fcnet_activation": "tanh",
    # vision nets: None picks ModelCatalog.get_filter_config(obs_shape)
    "conv_filters": None,
    "conv_activation": "relu",
    # recurrent nets
    "use_lstm": False,
    "lstm_cell_size": 256,
    "max_seq_len": 20,
    # action distribution: a state-independent log std (Box actions)
    "free_log_std": False,
    # policy and value function share their hidden layers
    "vf_share_layers": False,
    # image preprocessing
    "dim": 84,
    "grayscale": False,
    "zero_mean": True,
    "framestack": 1,
    # user models and preprocessors (registered with ModelCatalog.register_custom_*)
    "custom_model": None,
    "custom_model_config": {},
    "custom_preprocessor": None,
}

#: The model kinds that framework plugins implement. ``"q"`` is the Q network of DQN-family
#: algorithms (:meth:`ModelCatalog.build_q_model`, layout :func:`rlcore.models.layout.q_layout`).
MODEL_KINDS: tuple[str, ...] = ("fc", "vision", "lstm", "q")

#: The action distribution kinds of :class:`ActionDistSpec`.
DIST_KINDS: tuple[str, ...] = ("categorical", "multi_categorical", "diag_gaussian", "deterministic", "composite")

_SUPPORTED_ACTIONS = "Discrete, MultiDiscrete and Box, and Tuple and Dict spaces of those (nested)"


@dataclass(frozen=True)
class ActionDistSpec:
    """Which action distribution a policy needs and how many model outputs parametrize it.

    ``kind`` is one of :data:`DIST_KINDS`. ``params`` (read-only) always holds ``action_shape``
    (the shape of one action, as the field) and, by kind:

    * ``categorical``: ``n``, ``start``;
    * ``multi_categorical``: ``input_lens`` (logits per sub-action, a tuple), ``nvec`` (its
      shape-preserving nested list form), ``start`` (tuple);
    * ``diag_gaussian``: ``low``, ``high`` (flat tuples of floats, see :meth:`bounds`),
      ``free_log_std`` (when true the log std is a free parameter and not a model output);
    * ``deterministic``: ``low``, ``high``;
    * ``composite`` (Tuple and Dict action spaces): ``children`` (the leaf parts' specs, in the
      space's flattening order: a Dict's parts in the space's key order, sorted for a plain dict),
      ``paths`` (each leaf's path, e.g. ``[1]['pos']``), ``input_slices`` and ``action_slices``
      (each leaf's ``(start, stop)`` columns of ``dist_inputs`` and of the flat action) and
      ``structure`` (JSON-like: a leaf index, ``{"tuple": [...]}`` or ``{"dict": [[key, ...], ...]}``).
      ``action_shape`` is ``(D,)`` and ``action_dtype`` float32: a composite action is stored flat
      (see :func:`rlcore.action_dist.structured_actions`).
    """

    kind: str
    num_outputs: int
    action_shape: tuple[int, ...] = ()
    action_dtype: str = "int64"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = {"action_shape": tuple(self.action_shape), **dict(self.params)}
        object.__setattr__(self, "params", MappingProxyType(params))

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle; Ray ships specs to actors.
        return (type(self), (self.kind, self.num_outputs, self.action_shape, self.action_dtype, dict(self.params)))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` arrays of ``action_shape`` (Box action spaces only)."""
        if "low" not in self.params:
            raise ConfigError(f"a {self.kind} action distribution has no bounds")
        low = np.asarray(self.params["low"], np.float32).reshape(self.action_shape)
        high = np.asarray(self.params["high"], np.float32).reshape(self.action_shape)
        return low, high


def _check_positive_int(config: Mapping[str, Any], key: str, minimum: int = 1) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"model config {key!r} must be an int >= {minimum}, got {value!r}")


def _check_conv_filters(filters: Any) -> None:
    msg = "model config 'conv_filters' must be None or a list of [out_channels, [kernel_h, kernel_w], stride]"
    if not isinstance(filters, Sequence) or isinstance(filters, str) or not filters:
        raise ConfigError(f"{msg}, got {filters!r}")
    for layer in filters:
        ok = isinstance(layer, Sequence) and len(layer) == 3
        if ok:
            out, kernel, stride = layer
            kernel = [kernel, kernel] if isinstance(kernel, int) else kernel
            ok = (
                isinstance(kernel, Sequence)
                and len(kernel) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (out, stride, *kernel))
            )
        if not ok:
            raise ConfigError(f"{msg}; the layer {layer!r} is not")


def resolve_model_config(model_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``model_config`` merged over :data:`MODEL_DEFAULTS` and checked.

    Unknown keys raise :class:`~rlcore.errors.ConfigError` naming the nearest valid key; so do
    values of the wrong type (hidden sizes, filter specs, cell sizes, ``dim``, ``framestack``)
    and ``use_lstm`` together with ``custom_model`` (the LSTM wraps the catalog's own trunks).
    """
    config = merge_config(MODEL_DEFAULTS, model_config, path="model")
    hiddens = config["fcnet_hiddens"]
    if (
        not isinstance(hiddens, Sequence)
        or isinstance(hiddens, str)
        or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hiddens)
    ):
        raise ConfigError(f"model config 'fcnet_hiddens' must be a list of positive ints, got {hiddens!r}")
    for key in ("lstm_cell_size", "max_seq_len", "dim", "framestack"):
        _check_positive_int(config, key)
    for key in ("fcnet_activation", "conv_activation"):
        if not isinstance(config[key], str):
            raise ConfigError(f"model config {key!r} must be an activation name (str), got {config[key]!r}")
    for key in ("use_lstm", "free_log_std", "vf_share_layers", "grayscale", "zero_mean"):
        if not isinstance(config[key], bool | np.bool_):
            raise ConfigError(f"model config {key!r} must be True or False, got {config[key]!r}")
    for key in ("custom_model", "custom_preprocessor"):
        if config[key] is not None and not isinstance(config[key], str):
            raise ConfigError(f"model config {key!r} must be None or a registered name (str), got {config[key]!r}")
    if config["conv_filters"] is not None:
        _check_conv_filters(config["conv_filters"])
    if config["use_lstm"] and config["custom_model"]:
        raise ConfigError(
            f"model config use_lstm=True wraps the catalog's fc/vision trunk in an LSTM; it does not apply to "
            f"custom_model {config['custom_model']!r}, which must keep its own recurrent state (initial_state): "
            "set use_lstm to false (or drop custom_model to use the catalog's LSTM)"
        )
    return config


def conv_output_hw(obs_shape: Sequence[int], filters: Sequence[Any]) -> tuple[int, int]:
    """Height and width after ``filters`` under the vision convention ("same" padding, last "valid")."""
    height, width = int(obs_shape[0]), int(obs_shape[1])
    for i, (_, kernel, stride) in enumerate(filters):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if i < len(filters) - 1:
            height, width = math.ceil(height / stride), math.ceil(width / stride)
        else:
            height, width = (height - kh) // stride + 1, (width - kw) // stride + 1
    return height, width


def _space_name(space: Any) -> str:
    return repr(space) if isinstance(space, gym.Space) else f"{type(space).__name__} {space!r}"


def _check_not_empty(space: gym.Space[Any], size: int) -> None:
    """Refuse an action space (or part) of no action values: shape (0,), ``MultiDiscrete([])``."""
    if size == 0:
        raise ConfigError(
            f"the action space {space!r} has no action values (shape {list(space.shape or ())}): a policy has "
            "nothing to choose; give it at least one value (in a Tuple/Dict: leave that part out)"
        )


def _box_params(space: gym.spaces.Box) -> dict[str, Any]:
    low = np.broadcast_to(space.low, space.shape).astype(np.float64).ravel()
    high = np.broadcast_to(space.high, space.shape).astype(np.float64).ravel()
    return {"low": tuple(low.tolist()), "high": tuple(high.tolist())}


def _composite_spec(space: gym.spaces.Tuple | gym.spaces.Dict, config: Mapping[str, Any]) -> ActionDistSpec:
    """The composite spec of a Tuple/Dict action space: its leaves flattened in gymnasium's order."""
    leaf_config = {**config, "free_log_std": False}  # a free log std is for a Box action space alone
    children: list[ActionDistSpec] = []
    paths: list[str] = []

    def walk(part: Any, path: str) -> Any:
        if isinstance(part, gym.spaces.Tuple):
            if not part.spaces:
                raise ConfigError(f"the action space {space} has an empty Tuple at {path or 'its top'}")
            return {"tuple": [walk(p, f"{path}[{i}]") for i, p in enumerate(part.spaces)]}
        if isinstance(part, gym.spaces.Dict):
            if not part.spaces:
                raise ConfigError(f"the action space {space} has an empty Dict at {path or 'its top'}")
            return {"dict": [[key, walk(p, f"{path}[{key!r}]")] for key, p in part.spaces.items()]}
        if not isinstance(part, gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.Box):
            raise ConfigError(
                f"no action distribution for the part {path} of the action space {space}: it is "
                f"{_space_name(part)}. Supported parts: Discrete, MultiDiscrete and Box, nested in Tuple and Dict."
            )
        try:
            children.append(ModelCatalog.get_action_dist(part, leaf_config))
        except ConfigError as exc:
            raise ConfigError(f"the part {path} of the action space {space}: {exc}") from None
        paths.append(path)
        return len(children) - 1

    structure = walk(space, "")
    input_slices, action_slices, i, a = [], [], 0, 0
    for child in children:
        width = 1 if child.kind == "categorical" else int(np.prod(child.action_shape, dtype=np.int64))
        input_slices.append((i, i + child.num_outputs))
        action_slices.append((a, a + width))
        i, a = i + child.num_outputs, a + width
    params = {
        "children": tuple(children),
        "paths": tuple(paths),
        "input_slices": tuple(input_slices),
        "action_slices": tuple(action_slices),
        "structure": structure,
    }
    return ActionDistSpec("composite", i, (a,), "float32", params)


class ModelCatalog:
    """Framework-agnostic choice of preprocessors, action distributions and models.

    All methods are class or static methods; custom models and preprocessors registered here
    are process-wide.
    """

    _custom_models: ClassVar[dict[str, Any]] = {}
    _custom_preprocessors: ClassVar[dict[str, type[Preprocessor]]] = {}

    # ------------------------------------------------------------------ config
    @staticmethod
    def resolve_model_config(model_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """See :func:`resolve_model_config`."""
        return resolve_model_config(model_config)

    # ----------------------------------------------------------- registration
    @classmethod
    def register_custom_model(cls, name: str, model_cls: Any) -> None:
        """Register ``model_cls`` (called as ``model_cls(obs_shape, num_outputs, model_config)``) as ``name``.

        Select it with model config ``custom_model: name``. Registering a name again replaces it.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a custom model name must be a non-empty str, got {name!r}")
        if not callable(model_cls):
            raise ConfigError(f"custom model {name!r} must be a class or callable, got {model_cls!r}")
        cls._custom_models[name] = model_cls

    @classmethod
    def register_custom_preprocessor(cls, name: str, preprocessor_cls: type[Preprocessor]) -> None:
        """Register a preprocessor class (called as ``cls(obs_space, model_config)``) as ``name``.

        Select it with model config ``custom_preprocessor: name``. Registering a name again replaces it.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a custom preprocessor name must be a non-empty str, got {name!r}")
        if not callable(preprocessor_cls):
            raise ConfigError(f"custom preprocessor {name!r} must be a class, got {preprocessor_cls!r}")
        cls._custom_preprocessors[name] = preprocessor_cls

    @classmethod
    def custom_model_names(cls) -> list[str]:
        """Sorted names of the registered custom models."""
        return sorted(cls._custom_models)

    @classmethod
    def custom_preprocessor_names(cls) -> list[str]:
        """Sorted names of the registered custom preprocessors."""
        return sorted(cls._custom_preprocessors)

    @staticmethod
    def _lookup(table: Mapping[str, Any], what: str, name: str) -> Any:
        try:
            return table[name]
        except KeyError:
            known = sorted(table)
            raise UnknownNameError(
                f"unknown {what} {name!r}.{did_you_mean(name, known)} "
                f"Registered: {', '.join(known) if known else '(none)'}. Register it with "
                f"ModelCatalog.register_{what.replace(' ', '_')}(name, cls)."
            ) from None

    # ---------------------------------------------------------- preprocessors
    @classmethod
    def get_preprocessor(cls, obs_space: gym.Space[Any], model_config: Mapping[str, Any] | None = None) -> Preprocessor:
        """The preprocessor for ``obs_space`` under ``model_config``.

        ``custom_preprocessor`` if set; else uint8 images ``[H, W, C]`` -> image preprocessing
        (resize to ``dim``, ``grayscale``, ``zero_mean``); Box of rank 1 or 3 -> passthrough;
        other Box ranks and MultiBinary -> flatten; Discrete -> one-hot; MultiDiscrete ->
        one-hots; Tuple / Dict -> recursive flattening. With ``framestack > 1`` the result is
        wrapped in a stateful :class:`~rlcore.models.preprocessors.FrameStackPreprocessor`.
        Raises :class:`~rlcore.errors.ConfigError` for a Box ``obs_space`` with a 0 in its shape.
        """
        config = resolve_model_config(model_config)
        if isinstance(obs_space, gym.spaces.Box) and 0 in tuple(obs_space.shape):
            raise ConfigError(
                f"the observation space {obs_space!r} has no values (shape {list(obs_space.shape)}, a 0 in it): "
                "a model would have no input; give the env's observation_space at least 1 along each axis"
            )
        name = config["custom_preprocessor"]
        if name is not None:
            prep: Preprocessor = cls._lookup(cls._custom_preprocessors, "custom preprocessor", name)(obs_space, config)
        else:
            prep = preprocessor_for(obs_space, config)
        if config["framestack"] > 1:
            prep = FrameStackPreprocessor(obs_space, config, inner=prep)
        return prep

    # ---------------------------------------------------- action distribution
    @staticmethod
    def get_action_dist(
        action_space: gym.Space[Any],
        model_config: Mapping[str, Any] | None = None,
        dist_type: str | None = None,
    ) -> ActionDistSpec:
        """The action distribution for ``action_space``.

        Discrete(n) -> categorical, n outputs; MultiDiscrete(nvec) -> multi_categorical,
        ``sum(nvec)`` outputs; Box -> diag_gaussian, ``2 * prod(shape)`` outputs (mean and log
        std), or ``prod(shape)`` with ``free_log_std``; ``dist_type="deterministic"`` (Box) ->
        ``prod(shape)`` outputs.

        Raises :class:`~rlcore.errors.ConfigError` for an unsupported space (or part of a
        Tuple/Dict, named by its path), one of no action values (shape ``(0,)``, ``MultiDiscrete([])``)
        or an empty Tuple/Dict, and a ``dist_type`` that does not fit.
        """
        config = resolve_model_config(model_config)
        if dist_type is not None and dist_type not in DIST_KINDS:
            raise ConfigError(
                f"unknown dist_type {dist_type!r}.{did_you_mean(str(dist_type), DIST_KINDS)} "
                f"Valid: {', '.join(DIST_KINDS)} (or None to choose from the action space)."
            )
        if isinstance(action_space, gym.spaces.Discrete):
            kind = "categorical"
            spec = ActionDistSpec(
                kind,
                int(action_space.n),
                (),
                str(action_space.dtype),
                {"n": int(action_space.n), "start": int(action_space.start)},
            )
        elif isinstance(action_space, gym.spaces.MultiDiscrete):
            kind = "multi_categorical"
            nvec = np.asarray(action_space.nvec, np.int64)
            _check_not_empty(action_space, nvec.size)
            spec = ActionDistSpec(
                kind,
                int(nvec.sum()),
                tuple(int(d) for d in action_space.shape),
                str(action_space.dtype),
                {
                    "input_lens": tuple(int(n) for n in nvec.ravel()),
                    "nvec": nvec.tolist(),
                    "start": tuple(int(s) for s in np.asarray(action_space.start).ravel()),
                },
            )
        elif isinstance(action_space, gym.spaces.Tuple | gym.spaces.Dict):
            kind = "composite"
            spec = _composite_spec(action_space, config)
        elif isinstance(action_space, gym.spaces.Box):
            shape = tuple(int(d) for d in action_space.shape)
            dim = int(np.prod(shape, dtype=np.int64))
            _check_not_empty(action_space, dim)
            kind = "deterministic" if dist_type == "deterministic" else "diag_gaussian"
            params = _box_params(action_space)
            if kind == "diag_gaussian":
                params["free_log_std"] = bool(config["free_log_std"])
                outputs = dim if config["free_log_std"] else 2 * dim
            else:
                outputs = dim
            spec = ActionDistSpec(kind, outputs, shape, str(action_space.dtype), params)
        else:
            raise ConfigError(
                f"no action distribution for the action space {_space_name(action_space)}. "
                f"Supported: {_SUPPORTED_ACTIONS}."
            )
        if dist_type is not None and dist_type != spec.kind:
            raise ConfigError(
                f"dist_type {dist_type!r} does not fit the action space {action_space!r}, "
                f"which takes a {kind!r} distribution"
                + ("" if kind != "diag_gaussian" else " or 'deterministic'")
                + "."
            )
        return spec

    # ------------------------------------------------------------------ models
    @staticmethod
    def get_model_kind(obs_shape: Sequence[int], model_config: Mapping[str, Any] | None = None) -> str:
        """The model kind to build for an (already preprocessed) observation shape.

        ``"custom"`` with ``custom_model``, ``"lstm"`` with ``use_lstm`` (the fc trunk for flat
        observations or the vision trunk for images ``[H, W, C]``, wrapped in an LSTM cell:
        :func:`rlcore.models.layout.lstm_layout`), ``"vision"`` for image shapes ``[H, W, C]``,
        else ``"fc"``.
        """
        config = model_config or {}
        if config.get("custom_model"):
            return "custom"
        if config.get("use_lstm"):
            return "lstm"
        return "vision" if len(tuple(obs_shape)) == 3 else "fc"

    @staticmethod
    def get_filter_config(obs_shape: Sequence[int]) -> list[list[Any]]:
        """Default ``conv_filters`` for images of ``obs_shape`` ``[H, W, C]`` (RLlib's for 84x84 and 42x42).

        Other sizes get a generic stack: stride-2 4x4 "same" layers until both sides are at
        most 11, then one "valid" layer whose kernel covers what is left, so the output is 1x1.
        """
        shape = tuple(int(d) for d in obs_shape)
        if len(shape) != 3:
            raise ConfigError(
                f"conv filters need an image observation shape [H, W, C], got {list(shape)}; "
                "use a fully connected model or set model config 'conv_filters'."
            )
        height, width = shape[0], shape[1]
        if (height, width) == (84, 84):
            return [[16, [8, 8], 4], [32, [4, 4], 2], [256, [11, 11], 1]]
        if (height, width) == (42, 42):
            return [[16, [4, 4], 2], [32, [4, 4], 2], [256, [11, 11], 1]]
        filters: list[list[Any]] = []
        channels = [16, 32, 64, 64, 128, 128]
        while max(height, width) > 11:
            if len(filters) == len(channels):
                raise ConfigError(
                    f"no default conv filters for images of shape {list(shape)}; set model config 'conv_filters'."
                )
            filters.append([channels[len(filters)], [4, 4], 2])
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        filters.append([256, [height, width], 1])
        return filters

    @classmethod
    def build_model(
        cls,
        obs_shape: Sequence[int],
        num_outputs: int,
        model_config: Mapping[str, Any] | None,
        framework: str,
        seed: int | None = None,
    ) -> Any:
        """Build the model for an already *preprocessed* observation shape in ``framework``.

        What policies call (they see observations after the preprocessor): the kind comes from
        :meth:`get_model_kind`; the builder registered for ``(kind, framework)``
        (``rlcore_register_models``) or the custom model named by ``custom_model`` is called as
        ``builder(obs_shape, num_outputs, model_config[, seed=seed])`` with the resolved config
        (``conv_filters`` filled in for image shapes). So a custom model registered by anyone
        serves every algorithm whose policy builds through here. An unknown kind/framework pair
        raises :class:`~rlcore.errors.UnknownNameError`.
        """
        config = resolve_model_config(model_config)
        shape = tuple(int(d) for d in obs_shape)
        kind = cls.get_model_kind(shape, config)
        if len(shape) == 3 and config["conv_filters"] is None and kind != "custom":
            config["conv_filters"] = cls.get_filter_config(shape)
        if kind == "custom":
            builder = cls._lookup(cls._custom_models, "custom model", config["custom_model"])
        else:
            builder = get_model_builder(kind, framework)
        if seed is not None and (kind != "custom" or _accepts_seed(builder)):
            return builder(shape, int(num_outputs), config, seed=seed)
        return builder(shape, int(num_outputs), config)

    @classmethod
    def build_q_model(
        cls,
        obs_shape: Sequence[int],
        num_actions: int,
        model_config: Mapping[str, Any] | None,
        framework: str,
        *,
        hiddens: Sequence[int],
        dueling: bool,
        seed: int | None = None,
    ) -> Any:
        """Build the Q network of a DQN-family policy for an already *preprocessed* observation
        shape in ``framework``.

        The builder registered for ``("q", framework)`` (``rlcore_register_models``) is called as
        ``builder(obs_shape, num_actions, model_config, hiddens=[...], dueling=bool, seed=seed)``
        with the resolved config (``conv_filters`` filled in for image shapes ``[H, W, C]``, as
        :meth:`build_model` does). Its weights follow :func:`rlcore.models.layout.q_layout`: the
        fc trunk for flat observations, the vision trunk for images, then the Q head (``hiddens``,
        ``dueling``). So every DQN-family algorithm gets fc and vision Q networks from any
        framework plugin that registers one ``q`` builder.

        Raises :class:`~rlcore.errors.UnsupportedOperationError` for ``use_lstm`` or
        ``custom_model`` (a Q network is the catalog's own fc/vision trunk and Q head),
        :class:`~rlcore.errors.ConfigError` for a bad model config or ``hiddens``, and
        :class:`~rlcore.errors.UnknownNameError` when no plugin registered ``("q", framework)``.
        """
        config = resolve_model_config(model_config)
        shape = tuple(int(d) for d in obs_shape)
        if config["custom_model"]:
            raise UnsupportedOperationError(
                f"model config custom_model={config['custom_model']!r} is not supported for Q networks (DQN-family "
                "algorithms): they are built by the catalog from its fc or vision trunk and a Q head (hiddens, "
                "dueling). Drop model.custom_model, or register a 'q' model builder for your framework"
            )
        if config["use_lstm"]:
            raise UnsupportedOperationError(
                "model config use_lstm=True is not supported for Q networks (DQN-family algorithms): they are "
                "built from the catalog's fc or vision trunk and a Q head, with no recurrent state. Set "
                "model.use_lstm to false (use framestack for short memory on images)"
            )
        heads = list(hiddens) if isinstance(hiddens, Sequence) and not isinstance(hiddens, str) else None
        if heads is None or not all(
            isinstance(h, int | np.integer) and not isinstance(h, bool) and h > 0 for h in heads
        ):
            raise ConfigError(
                f"config 'hiddens' (the Q head's layer sizes) must be a list of positive ints, got {hiddens!r}"
            )
        if len(shape) == 3 and config["conv_filters"] is None:
            config["conv_filters"] = cls.get_filter_config(shape)
        builder = get_model_builder("q", framework)
        return builder(
            shape, int(num_actions), config, hiddens=[int(h) for h in heads], dueling=bool(dueling), seed=seed
        )

    @classmethod
    def get_model(
        cls,
        obs_space: gym.Space[Any],
        action_space: gym.Space[Any] | None,
        num_outputs: int | None,
        model_config: Mapping[str, Any] | None,
        framework: str,
        seed: int | None = None,
    ) -> Any:
        """Build the model for these spaces in ``framework``.

        With ``seed``, catalog builders get ``seed=seed`` (their initial weights come from
        :func:`rlcore.models.layout.init_weights`); custom models get it only if they accept it.

        ``num_outputs=None`` takes it from :meth:`get_action_dist`. The model kind comes from
        :meth:`get_model_kind`; the builder registered for ``(kind, framework)`` (or the custom
        model class) is called as ``builder(obs_shape, num_outputs, model_config)`` with the
        preprocessor's output shape and the resolved config (``conv_filters`` filled in for
        image shapes). An unknown kind/framework pair raises
        :class:`~rlcore.errors.UnknownNameError`.
        """
        config = resolve_model_config(model_config)
        obs_shape = tuple(cls.get_preprocessor(obs_space, config).shape)
        if num_outputs is None:
            if action_space is None:
                raise ConfigError("get_model needs num_outputs or an action_space to derive it from")
            num_outputs = cls.get_action_dist(action_space, config).num_outputs
        return cls.build_model(obs_shape, int(num_outputs), config, framework, seed=seed)


def _accepts_seed(builder: Any) -> bool:
    import inspect

    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def composite_action_spec(space: gym.Space[Any]) -> ActionDistSpec | None:
    """The catalog's ``composite`` spec of a Tuple or Dict action space, None for any other space.

    Raises :class:`~rlcore.errors.ConfigError` for a Tuple/Dict with a part the catalog does not
    support (named by its path)."""
    if not isinstance(space, gym.spaces.Tuple | gym.spaces.Dict):
        return None
    return ModelCatalog.get_action_dist(space)


__all__ = [
    "DIST_KINDS",
    "MODEL_DEFAULTS",
    "MODEL_KINDS",
    "ActionDistSpec",
    "ModelCatalog",
    "composite_action_spec",
    "conv_output_hw",
    "resolve_model_config",
]
