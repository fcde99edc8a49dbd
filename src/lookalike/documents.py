"""The one way a typed document (a result, an event, a report) becomes JSON: :func:`to_json`.

Documents are plain dataclasses; their JSON is their fields, in order, recursively.  A field marked
``metadata=OMIT_EMPTY`` is left out when it is empty (``None``, ``""``).  Standard library only: the
Lambda bundle carries this module.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: Field metadata: leave the field out of the JSON when it is ``None`` (or empty).
OMIT_EMPTY = {"omit_empty": True}


def to_json(value: Any) -> Any:
    """The JSON form (dicts, lists, numbers, strings) of a result, an event or any part of one."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("omit_empty") and not item and item != 0:
                continue
            out[f.name] = to_json(item)
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
