"""MATLAB files, header first: every variable's name, dimensions and class without inflating its data, and
the inflated size of the variables that will be read, bounded while inflating.

scipy's ``whosmat`` inflates a whole 128 KB compressed block per variable (about 130 MB of zeros), so MAT 5
headers are read here; MAT 4 files (never compressed) go through ``whosmat``; 7.3 (HDF5) is refused.
Inflation is streamed (``zlib.decompressobj`` with ``max_length``) and stops as soon as a variable passes
what its header declares (or the budget, for a struct whose size no header states): a small file that says
4,096 samples but inflates to 268 MB costs about 70 KB of inflating before it is refused.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faultdx.data.formats.contract import Budget, SignalFileError, decoded
from faultdx.errors import TooLarge

MI_INT8, MI_UINT32, MI_INT32, MI_MATRIX, MI_COMPRESSED = 1, 6, 5, 14, 15
NUMERIC_CLASSES = ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                   "uint64")
MAT_CLASSES = dict(enumerate(("unknown", "cell", "struct", "object", "char", "sparse", *NUMERIC_CLASSES,
                              "function", "opaque")))  # the class code in a variable's array flags
MAX_MAT_VARIABLES = 1024
MAT_HEADER_BYTES = 1024  # a variable's flags, dimensions and name fit in its first kilobyte
MAT_BYTES_PER_SAMPLE = 8  # the widest numeric class: bounds what a struct or a lying header may inflate to
MAT_SLACK_BYTES = 1 << 20  # names, headers, small fields
INFLATE_STEP = 1 << 20  # most bytes one decompress call may produce


@dataclass(frozen=True)
class MatVar:
    """One variable as its header declares it, and where its element lies in the file (MAT 5 only)."""

    name: str
    shape: tuple[int, ...]
    kind: str  # the class as scipy's whosmat names it; "logical" for logical arrays
    span: tuple[int, int] | None = None  # the element's bytes, tag included
    compressed: bool = False

    @property
    def declared_bytes(self) -> int | None:
        """Most bytes a numeric variable of the declared shape inflates to (complex, widest class, header);
        None when the header does not bound it (a struct, a cell)."""
        if self.kind not in NUMERIC_CLASSES and self.kind != "logical":
            return None
        return 2 * MAT_BYTES_PER_SAMPLE * math.prod(self.shape) + 2 * MAT_HEADER_BYTES


def damaged(where: str, why: str) -> SignalFileError:
    """The 422 for a MAT file that cannot be parsed, saying why."""
    return SignalFileError(f"{where}: not a readable MATLAB file ({why})")


def mat_variables(data: bytes, where: str) -> list[MatVar]:
    """Every variable's name, dimensions and class, from the headers alone (nothing is inflated past them)."""
    if len(data) >= 128 and data[126:128] in (b"IM", b"MI"):
        order = "<" if data[126:128] == b"IM" else ">"
        version = struct.unpack_from(order + "H", data, 124)[0]
        if version == 0x0200:
            raise SignalFileError(f"{where}: MATLAB v7.3 (HDF5) files are not supported; save with -v7")
        if version == 0x0100:
            return _mat5_variables(data, order, where)
    from scipy.io import whosmat

    info = decoded(where, "MATLAB", lambda: whosmat(io.BytesIO(data)))
    if len(info) > MAX_MAT_VARIABLES:
        raise TooLarge(f"{where}: {len(info):,} MATLAB variables; at most {MAX_MAT_VARIABLES}", "file")
    return [MatVar(n, tuple(int(d) for d in s), c) for n, s, c in info]


def _mat5_variables(data: bytes, order: str, where: str) -> list[MatVar]:
    out: list[MatVar] = []
    pos = 128
    while pos + 8 <= len(data):
        if len(out) == MAX_MAT_VARIABLES:
            raise TooLarge(f"{where}: more than {MAX_MAT_VARIABLES} MATLAB variables", "file")
        mdtype, nbytes = struct.unpack_from(order + "II", data, pos)
        end, compressed = pos + 8 + nbytes, mdtype == MI_COMPRESSED
        if end > len(data):
            raise damaged(where, f"variable {len(out) + 1} is truncated")
        head = memoryview(data)[pos + 8: min(end, pos + 8 + MAT_HEADER_BYTES)]
        if compressed:
            try:
                _, first = inflate(memoryview(data)[pos + 8: end], MAT_HEADER_BYTES, keep=MAT_HEADER_BYTES)
                head = memoryview(first)
            except zlib.error as exc:
                raise damaged(where, f"variable {len(out) + 1}: {exc}") from exc
            if len(head) < 8:
                raise damaged(where, f"variable {len(out) + 1} is empty")
            mdtype = struct.unpack_from(order + "I", head, 0)[0]
            head = head[8:]
        if mdtype != MI_MATRIX:
            raise damaged(where, f"element {len(out) + 1} is not a variable (type {mdtype})")
        if len(head):  # an empty element holds nothing (scipy refuses it)
            name, shape, kind = _mat5_header(head, order, where)
            out.append(MatVar(name, shape, kind, (pos, end), compressed))
        pos = end
    return out


def _mat5_header(head: memoryview, order: str, where: str) -> tuple[str, tuple[int, ...], str]:
    """An miMATRIX element's first bytes → (name, dimensions, class)."""

    def element(pos: int, expected: int) -> tuple[memoryview, int]:
        if pos + 8 > len(head):
            raise damaged(where, "a variable header is truncated")
        word, nbytes = struct.unpack_from(order + "II", head, pos)
        if word >> 16:  # small data element: type and size in one word, at most 4 bytes of data after it
            word, nbytes, start, end = word & 0xFFFF, word >> 16, pos + 4, pos + 8
        else:
            start, end = pos + 8, pos + 8 + nbytes + (-nbytes % 8)
        if word != expected or nbytes > MAT_HEADER_BYTES or start + nbytes > len(head):
            raise damaged(where, "a variable header is damaged")
        return head[start: start + nbytes], end

    flags, pos = element(0, MI_UINT32)
    if len(flags) < 4:
        raise damaged(where, "a variable header is damaged")
    word = struct.unpack_from(order + "I", flags, 0)[0]
    kind = MAT_CLASSES.get(word & 0xFF, "unknown")
    if kind in ("function", "opaque", "unknown"):
        return "", (), kind
    dims, pos = element(pos, MI_INT32)
    shape = struct.unpack_from(f"{order}{len(dims) // 4}i", dims, 0)
    if any(d < 0 for d in shape):
        raise damaged(where, f"negative dimensions {shape}")
    name, _ = element(pos, MI_INT8)
    logical = bool(word >> 9 & 1)
    return bytes(name).decode("latin1"), tuple(shape), "logical" if logical else kind


def inflate(packed: memoryview, limit: int, keep: int = 0) -> tuple[int, bytes]:
    """Inflate ``packed`` 64 KB at a time, counting the bytes without keeping them (but the first ``keep``);
    stops once past ``limit``, having produced at most ``limit + 1`` bytes → (bytes, the first ``keep``)."""
    inflater = zlib.decompressobj()
    total, head = 0, b""
    for start in range(0, len(packed), 1 << 16):
        pending = packed[start: start + (1 << 16)]
        while pending:
            out = inflater.decompress(pending, min(INFLATE_STEP, limit + 1 - total))
            head += out[: max(keep - len(head), 0)]
            total += len(out)
            if total > limit or inflater.eof:
                return total, head
            pending = inflater.unconsumed_tail
    return total, head


def _inflated_size(data: bytes, var: MatVar, limit: int, where: str) -> int:
    """Bytes a variable's element inflates to, counted up to ``limit`` + 1 (its tag's count when stored
    uncompressed)."""
    assert var.span is not None
    start, end = var.span
    if not var.compressed:
        return end - start
    try:
        return inflate(memoryview(data)[start + 8: end], limit)[0]
    except zlib.error as exc:
        raise damaged(where, f"variable {var.name[:40]!r}: {exc}") from exc


def check_inflated(data: bytes, wanted: Sequence[MatVar], budget: Budget, where: str) -> None:
    """Refuse (413) a variable that inflates past what its header declares, or the ``wanted`` variables
    together past the budget's bytes, stopping the inflating there."""
    budget_bytes = MAT_BYTES_PER_SAMPLE * budget.max_samples + MAT_SLACK_BYTES
    total = 0
    for var in wanted:
        declared = var.declared_bytes
        limit = budget_bytes - total if declared is None else min(declared, budget_bytes - total)
        size = _inflated_size(data, var, limit, where)
        if size > limit:
            why = (f"its header declares {math.prod(var.shape):,} samples" if limit == declared else
                   f"the limit is {budget.max_samples:,} samples")
            message = f"{where}: variable {var.name[:40]!r} decodes to more than {limit:,} bytes ({why})"
            raise TooLarge(message, "file")
        total += size


def load_mat(data: bytes, where: str, wanted: Sequence[MatVar], budget: Budget) -> dict[str, np.ndarray]:
    """The ``wanted`` variables, after checking what they inflate to (structs and lying headers too).

    Of a MAT 5 file only their own elements are handed to scipy, so that it never touches the others.
    """
    source = data
    if all(v.span is not None for v in wanted):
        check_inflated(data, wanted, budget, where)
        header = data[:116] + bytes(8) + data[124:128]  # no subsystem data offset: it is not copied
        source = header + b"".join(data[v.span[0]: v.span[1]] for v in wanted)  # type: ignore[index]
    from scipy.io import loadmat  # after the checks: a refusal costs no import

    names = [v.name for v in wanted]
    return decoded(where, "MATLAB", lambda: loadmat(io.BytesIO(source), variable_names=names))
