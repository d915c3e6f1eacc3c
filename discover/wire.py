"""Plain-data wire format between the trusted side and the sandbox: JSON values plus numpy arrays of numbers.

Never pickle: decoding must not be able to run code or build objects whose methods lie. `encode` accepts only
exact builtin types (dict with str keys, list/tuple, str, int, float, bool, None) and numpy arrays or scalars of
bool/int/float dtype; `decode` gives back only those. Arrays travel as raw bytes after a JSON header:

    b"DW1\\n" + u32 header length + header JSON + array bytes...
    header = {"v": <value with arrays replaced by {"__nd__": i}>, "a": [[dtype, shape], ...]}

This file is also copied into the sandbox next to the runner (standard library + numpy only).
"""

from __future__ import annotations

import json
import math
import struct

MAGIC = b"DW1\n"
MAX_DEPTH = 64
ALLOWED_KINDS = "biuf"  # bool, signed, unsigned, float


class WireError(ValueError):
    """Data that is not plain (encode), or bytes that are not a well-formed message within the limits (decode)."""


def _np():
    import numpy

    return numpy


def encode(value, *, max_bytes: int = 1 << 30) -> bytes:
    arrays: list = []

    def conv(x, depth: int):
        if depth > MAX_DEPTH:
            raise WireError("nested too deeply")
        t = type(x)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            if abs(x) >= 2 ** 63:
                raise WireError("integer out of range")
            return x
        if t is float:
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if t is dict:
            if any(type(k) is not str for k in x):
                raise WireError("dict keys must be str")
            if "__nd__" in x or "__float__" in x:
                raise WireError("reserved key")
            return {k: conv(v, depth + 1) for k, v in x.items()}
        if t is list or t is tuple:
            return [conv(v, depth + 1) for v in x]
        np = _np()
        if isinstance(x, np.generic) and type(x).__module__ == "numpy" and x.dtype.kind in ALLOWED_KINDS:
            return conv(x.item(), depth)
        if t is np.ndarray and x.dtype.kind in ALLOWED_KINDS:
            a = np.ascontiguousarray(x)
            arrays.append(a)
            return {"__nd__": len(arrays) - 1}
        raise WireError(f"cannot send a {t.__module__}.{t.__qualname__}: only plain data (numbers, str, lists, "
                        f"dicts, numpy arrays of numbers)")

    v = conv(value, 0)
    header = json.dumps({"v": v, "a": [[a.dtype.str, list(a.shape)] for a in arrays]},
                        separators=(",", ":"), allow_nan=False).encode()
    parts = [MAGIC, struct.pack("<I", len(header)), header] + [a.tobytes() for a in arrays]
    total = sum(len(p) for p in parts)
    if total > max_bytes:
        raise WireError(f"message of {total} bytes is over the limit of {max_bytes}")
    return b"".join(parts)


def decode(data: bytes, *, max_bytes: int = 1 << 30):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("not bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes is over the limit of {max_bytes}")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise WireError("not a wire message")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    if start + hlen > len(data):
        raise WireError("truncated header")
    try:
        header = json.loads(data[start:start + hlen])
    except (ValueError, RecursionError) as exc:
        raise WireError(f"bad header: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("a"), list):
        raise WireError("bad header")
    np = _np()
    arrays = []
    pos = start + hlen
    for spec in header["a"]:
        try:
            dtype_str, shape = spec
            dtype = np.dtype(dtype_str)
            shape = tuple(int(n) for n in shape)
        except (TypeError, ValueError) as exc:
            raise WireError(f"bad array header: {exc}") from None
        if dtype.kind not in ALLOWED_KINDS or dtype.hasobject or any(n < 0 for n in shape):
            raise WireError(f"array dtype {dtype_str!r} is not allowed")
        n = dtype.itemsize * math.prod(shape)
        if pos + n > len(data):
            raise WireError("truncated array data")
        arrays.append(np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=pos).reshape(shape).copy())
        pos += n
    if pos != len(data):
        raise WireError("trailing bytes after the message")

    def back(x, depth: int):
        if depth > MAX_DEPTH:
            raise WireError("nested too deeply")
        if isinstance(x, dict):
            if set(x) == {"__nd__"}:
                i = x["__nd__"]
                if type(i) is not int or not 0 <= i < len(arrays):
                    raise WireError("bad array reference")
                return arrays[i]
            if set(x) == {"__float__"}:
                if x["__float__"] not in ("nan", "inf", "-inf"):
                    raise WireError("bad float")
                return float(x["__float__"])
            return {k: back(v, depth + 1) for k, v in x.items()}
        if isinstance(x, list):
            return [back(v, depth + 1) for v in x]
        return x

    return back(header.get("v"), 0)
