"""Graph plumbing shared by rl_tf's policies: ``tf.function`` graphs traced once and called with the least overhead."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["CatalogForward", "GraphFunction", "VariableWeights"]


class GraphFunction:
    """A ``tf.function`` traced once from a fixed input signature, called with the least overhead.

    ``GraphFunction(fn, signature)(*arrays) -> list of output tensors`` (flattened). The call
    goes straight to the concrete function's graph op (TensorFlow's eager ``execute``, skipping
    ~100 us of Python argument binding per call); if this TensorFlow lacks those internals it
    falls back to calling the concrete function. ``function`` is the ``tf.function`` (its
    ``experimental_get_tracing_count()`` stays 1); it is traced on first use.
    """

    def __init__(self, fn: Callable[..., Any], signature: Sequence[tf.TensorSpec], *, fast: bool = True) -> None:
        self.signature = list(signature)
        self.function = tf.function(fn, input_signature=self.signature, autograph=False)
        self._dtypes = [s.dtype for s in self.signature]
        self._np_dtypes = [np.dtype(s.dtype.as_numpy_dtype) for s in self.signature]
        self._want_fast = fast
        self._concrete: Any = None
        self._fast: Callable[[list[tf.Tensor]], list[tf.Tensor]] | None = None

    @property
    def concrete(self) -> Any:
        """The concrete function (traced on first use)."""
        if self._concrete is None:
            self._concrete = self.function.get_concrete_function()
            self._fast = self._make_fast_call() if self._want_fast else None
        return self._concrete

    def _make_fast_call(self) -> Callable[[list[tf.Tensor]], list[tf.Tensor]] | None:
        try:
            from tensorflow.python.eager import context, execute

            atomic = self.concrete._inference_function
            name = atomic.name.decode()
            num_outputs = len(atomic.function_type.flat_outputs)
            captures = list(self.concrete.captured_inputs)
            ctx = context.context()
            attrs = tuple(itertools.chain(*ctx.function_call_options.as_attrs().items()))
        except Exception:  # noqa: BLE001 - internals moved: use the public call
            return None

        def call(tensors: list[tf.Tensor]) -> list[tf.Tensor]:
            return execute.execute(name, num_outputs, tensors + captures, attrs, ctx) or []

        return call

    def _public_call(self, tensors: list[tf.Tensor]) -> list[tf.Tensor]:
        return tf.nest.flatten(self.concrete(*tensors))

    def _tensors(self, args: Sequence[Any]) -> list[tf.Tensor]:
        """``args`` as eager tensors of the signature's dtypes: tensors of the right dtype as they are,
        numpy arrays and scalars of the right dtype through ``tf.constant`` (a third of
        ``convert_to_tensor``'s cost)."""
        out = []
        for a, d, nd in zip(args, self._dtypes, self._np_dtypes, strict=True):
            if isinstance(a, tf.Tensor) and a.dtype == d:
                out.append(a)
            elif isinstance(a, np.ndarray | np.generic) and a.dtype == nd:
                out.append(tf.constant(a))
            else:
                out.append(tf.convert_to_tensor(a, dtype=d))
        return out

    def __call__(self, *args: Any) -> list[tf.Tensor]:
        tensors = self._tensors(args)
        if self._concrete is None:
            _ = self.concrete
        if self._fast is not None:
            return self._fast(tensors)
        return self._public_call(tensors)

    def check_fast_path(self, *args: Any) -> None:
        """Call both ways on ``args`` (a stateless function only) and drop the fast path if they differ."""
        _ = self.concrete
        if self._fast is None:
            return
        tensors = [tf.convert_to_tensor(a, dtype=d) for a, d in zip(args, self._dtypes, strict=True)]
        try:
            fast = [t.numpy() for t in self._fast(tensors)]
        except Exception:  # noqa: BLE001 - any failure of the internal path: use the public call
            self._fast = None
            return
        public = [t.numpy() for t in self._public_call(tensors)]
        if len(fast) != len(public) or not all(np.array_equal(a, b) for a, b in zip(fast, public, strict=True)):
            self._fast = None

    @property
    def uses_fast_path(self) -> bool:
        """Whether calls skip the concrete function's Python layer (traces the function if needed)."""
        _ = self.concrete
        return self._fast is not None


class VariableWeights:
    """Weights of an rl_tf policy as canonical numpy, read and written in one graph call each.

    The policy sets ``self._vars`` (its trainable variables, in ``self.weight_names`` order), its
    ``optimizer`` (with a host ``lr``), then calls :meth:`_build_weight_graphs`. A
    ``Variable.numpy()`` or eager ``assign`` per variable costs ~10x more, and remote workers load
    weights every round.
    """

    _vars: list[tf.Variable]
    weight_names: list[str]
    optimizer: Any

    def _build_weight_graphs(self, *, fast: bool = True) -> None:
        self._weights_fn = GraphFunction(self._graph_weights, [], fast=fast)
        specs = [tf.TensorSpec(v.shape, tf.float32) for v in self._vars]
        self._assign_fn = GraphFunction(self._graph_assign, specs, fast=fast)

    def _graph_weights(self) -> list[tf.Tensor]:
        return [v.read_value() for v in self._vars]

    def _graph_assign(self, *weights: tf.Tensor) -> tf.Tensor:
        for var, w in zip(self._vars, weights, strict=True):
            var.assign(w)
        return tf.constant(True)

    def _get_weights(self) -> dict[str, np.ndarray]:
        return {n: np.array(t) for n, t in zip(self.weight_names, self._weights_fn(), strict=True)}

    def _set_weights(self, weights: dict[str, np.ndarray]) -> None:
        # checked against the layout by the core
        self._assign_fn(*(np.asarray(weights[n], np.float32) for n in self.weight_names))

    def _set_learning_rate(self, lr: float) -> None:
        self.optimizer.lr = float(lr)  # a host value read by the next step: no TensorFlow call

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` as float32 ``[B, *obs_shape]``, or a ValueError naming the expected shape."""
        obs = np.asarray(obs, dtype=np.float32)
        shape: tuple[int, ...] = self.obs_shape  # type: ignore[attr-defined]
        if obs.shape[1:] != shape:
            raise ValueError(
                f"forward expects observations of shape [B, {', '.join(map(str, shape))}], got {obs.shape}"
            )
        return obs


class CatalogForward:
    """The acting forward of an rl_tf policy whose ``self.model`` is a feed-forward catalog model
    with action-distribution outputs (fc, vision): one graph over ``[B, *obs_shape]`` float32
    observations, traced once. The actor-critic policies' (without recurrence) and the
    gradient-free ones' (ES). Needs :class:`VariableWeights`' ``_check_obs``.
    """

    model: Any
    obs_shape: tuple[int, ...]
    _forward_fn: GraphFunction

    def _build_forward_graph(self) -> GraphFunction:
        """Build ``self._forward_fn`` (its fast path checked on zeros) and return it."""
        self._forward_fn = GraphFunction(self._graph_forward, [tf.TensorSpec([None, *self.obs_shape], tf.float32)])
        self._forward_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32))
        return self._forward_fn

    def _graph_forward(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self.model(obs)

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, n], values [B])`` as float32 numpy for filtered observations; a
        ``ValueError`` naming the expected shape for observations of another shape."""
        dist_inputs, values = self._forward_fn(self._check_obs(obs))  # type: ignore[attr-defined]
        return dist_inputs.numpy(), values.numpy()
