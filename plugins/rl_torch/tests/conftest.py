"""Makes rl_torch's test helper module ``rl_torch_testutil`` importable (importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
