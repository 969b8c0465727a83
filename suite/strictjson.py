"""Strict JSON: `NaN` and `Infinity` are not JSON, so archbench never writes them (a non-finite
number becomes null, and the row or output carries a status that says why)."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_json(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text: non-finite numbers become null (never a bare NaN); unknown types as str."""
    kwargs.setdefault("default", str)
    return json.dumps(finite_json(obj), allow_nan=False, **kwargs)
