"""The framework-agnostic model catalog: preprocessors, action distributions, model choice.

See :class:`ModelCatalog`. Framework plugins implement the model kinds of :data:`MODEL_KINDS`
through ``rlcore_register_models``; this package only uses numpy and gymnasium.
"""

from __future__ import annotations

from rlcore.models.catalog import (
    DIST_KINDS,
    MODEL_DEFAULTS,
    MODEL_KINDS,
    ActionDistSpec,
    ModelCatalog,
    composite_action_spec,
    conv_output_hw,
    resolve_model_config,
)
from rlcore.models.preprocessors import (
    DictFlatteningPreprocessor,
    FlattenPreprocessor,
    FrameStackPreprocessor,
    ImagePreprocessor,
    MultiDiscretePreprocessor,
    NoPreprocessor,
    OneHotPreprocessor,
    Preprocessor,
    TupleFlatteningPreprocessor,
)

__all__ = [
    "DIST_KINDS",
    "MODEL_DEFAULTS",
    "MODEL_KINDS",
    "ActionDistSpec",
    "DictFlatteningPreprocessor",
    "FlattenPreprocessor",
    "FrameStackPreprocessor",
    "ImagePreprocessor",
    "ModelCatalog",
    "composite_action_spec",
    "MultiDiscretePreprocessor",
    "NoPreprocessor",
    "OneHotPreprocessor",
    "Preprocessor",
    "TupleFlatteningPreprocessor",
    "conv_output_hw",
    "resolve_model_config",
]
