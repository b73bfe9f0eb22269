"""Fixtures of rl_tf's tests; makes the helper module ``rl_tf_testutil`` importable (importlib mode)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
sys.path.insert(0, str(Path(__file__).parent))
