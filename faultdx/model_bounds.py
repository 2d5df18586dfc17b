"""Bounds of a model directory's ``config.json``, checked before any tensor is built (issue 24 item 10).

A models folder may hold a directory someone else wrote. Its JSON is read within a size and a nesting depth
(a 100,000-deep document is a named error, not a ``RecursionError``), and the network it describes within
per-field bounds and an estimate of its weight count, so that ``widths: [200000]`` or ``depths: [100000]``
is refused by name in milliseconds instead of allocating gigabytes or building for a minute. The bounds sit
far above any network faultdx trains (the shipped one has about 0.2 M weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faultdx.errors import InputError
from faultdx.limits import MAX_CHANNELS

MAX_JSON_BYTES = 1 << 20  # config.json / ood.json
MAX_JSON_DEPTH = 32  # nesting of objects and lists
MAX_STAGES = 16
MAX_WIDTH = 4096  # channels of a stage or of the stem
MAX_DEPTH = 64  # residual blocks per stage
MAX_BLOCKS = 256  # residual blocks in all
MAX_KERNEL = 1025
MAX_STRIDE = 64
MAX_CLASSES = 1024
MAX_BANDS = 64  # frontend bands
MAX_FRONTEND_LENGTH = 8192
MAX_OVERSAMPLE = 64
MAX_WEIGHTS = 50_000_000  # estimated weights of the network: 200 MB as float32
# field -> (most, what it is); each checked when it is an integer
SCALARS = {"in_channels": (MAX_CHANNELS, "input channels"), "num_classes": (MAX_CLASSES, "classes"),
           "stem_channels": (MAX_WIDTH, "stem channels"), "stem_kernel": (MAX_KERNEL, "stem kernel size"),
           "stem_stride": (MAX_STRIDE, "stem stride"), "kernel_size": (MAX_KERNEL, "kernel size")}
STAGES = {"widths": (MAX_WIDTH, "channels"), "depths": (MAX_DEPTH, "blocks"),
          "strides": (MAX_STRIDE, "stride")}


class ModelConfigError(InputError):
    """A model directory's JSON is larger, deeper or describes a bigger network than faultdx builds."""


def read_json_object(path: Path, error: type[InputError] = ModelConfigError) -> dict[str, Any]:
    """The JSON object in ``path``, within :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH` (``error``
    naming the file otherwise)."""
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise error(f"{where!r} is {size:,} bytes; a model's JSON takes at most {MAX_JSON_BYTES:,}")
        value = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise error(f"{where!r} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{where!r} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise error(f"{where!r} must hold a JSON object, got {type(value).__name__}")
    if json_depth(value) > MAX_JSON_DEPTH:
        raise error(f"{where!r} is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), walked without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_network(model: dict[str, Any]) -> None:
    """Refuse (:class:`ModelConfigError` naming the field) a ``model`` section past the bounds above; values
    of the wrong type are left to the network's own config, which names them when it is built."""
    for name, (most, what) in SCALARS.items():
        _at_most(f"model.{name}", model.get(name), most, what)
    lists = {name: model.get(name) for name in STAGES}
    for name, values in lists.items():
        if isinstance(values, list) and len(values) > MAX_STAGES:
            message = f"model.{name}: {len(values):,} stages; at most {MAX_STAGES}"
            raise ModelConfigError(message, f"model.{name}")
        for value in values if isinstance(values, list) else ():
            _at_most(f"model.{name}", value, *STAGES[name])
    depths = [d for d in lists["depths"] or () if _is_int(d)]
    if sum(depths) > MAX_BLOCKS:
        raise ModelConfigError(f"model.depths: {sum(depths):,} residual blocks in all; at most {MAX_BLOCKS}",
                               "model.depths")
    options = model.get("frontend_options")
    if isinstance(options, dict):
        bands = options.get("bands")
        if isinstance(bands, list) and len(bands) > MAX_BANDS:
            raise ModelConfigError(f"model.frontend_options.bands: {len(bands):,} bands; at most {MAX_BANDS}",
                                   "model.frontend_options.bands")
        _at_most("model.frontend_options.length", options.get("length"), MAX_FRONTEND_LENGTH, "points")
        _at_most("model.frontend_options.oversample", options.get("oversample"), MAX_OVERSAMPLE, "sub-points")
    weights = estimated_weights(model)
    if weights > MAX_WEIGHTS:
        raise ModelConfigError(f"model: about {weights:,} weights; faultdx builds networks of at most "
                               f"{MAX_WEIGHTS:,}", "model")


def estimated_weights(model: dict[str, Any]) -> int:
    """Convolution weights of the described ResNet (both trunks of a hybrid): the bulk of its size."""
    def number(name: str, default: int) -> int:
        value = model.get(name, default)
        return value if _is_int(value) else default

    kernel = number("kernel_size", 3)
    widths = [w for w in model.get("widths") or () if _is_int(w)]
    depths = [d for d in model.get("depths") or () if _is_int(d)]
    previous = number("stem_channels", 16)
    total = number("in_channels", 1) * previous * number("stem_kernel", 64)
    for width, depth in zip(widths, depths, strict=False):
        total += kernel * (previous * width + width * width) + previous * width  # first block + shortcut
        total += max(depth - 1, 0) * 2 * kernel * width * width
        previous = width
    return total * (2 if model.get("frontend") == "hybrid" else 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _at_most(field: str, value: Any, most: int, what: str) -> None:
    if _is_int(value) and value > most:
        raise ModelConfigError(f"{field}: {value:,} {what}; at most {most:,}", field)
