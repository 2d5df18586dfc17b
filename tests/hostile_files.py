"""Small files that declare (or decompress to) huge signals, built without ever holding the huge signal.

Used by tests/test_file_budgets.py, tests/test_fuzz_files.py and bench/hostile_files.py (issue 14, items 1, 2
and 7): a 1 MB compressed ``.mat`` of 2**27 zeros, a zstd Parquet of 50 M zeros, a one-row CSV with 100,000
columns, NPY headers claiming 10**10 elements, WAV headers with 0 bits per sample or cut to 30 bytes.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

MI_INT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 5, 6, 9, 14, 15
MX_DOUBLE = 6


def mat_header() -> bytes:
    """The 128-byte MAT 5 file header (little-endian)."""
    text = b"MATLAB 5.0 MAT-file, written by faultdx tests".ljust(116, b" ")
    return text + b"\x00" * 8 + struct.pack("<H", 0x0100) + b"IM"


def _element(mdtype: int, payload: bytes) -> bytes:
    return struct.pack("<II", mdtype, len(payload)) + payload + b"\x00" * (-len(payload) % 8)


def mat_variable(
    name: str, dims: tuple[int, ...], zeros: int, *, mx_class: int = MX_DOUBLE, logical: bool = False,
    compressed: bool = True, chunk: int = 1 << 22,
) -> bytes:
    """One MAT 5 variable declaring ``dims`` whose data element holds ``zeros`` zero bytes (consistent with
    the dimensions or not), compressed as it is written so that a huge one never exists in memory."""
    flags = _element(MI_UINT32, struct.pack("<II", mx_class | (0x200 if logical else 0), 0))
    head = flags + _element(MI_INT32, struct.pack(f"<{len(dims)}i", *dims)) + _element(MI_INT8, name.encode())
    head += struct.pack("<II", MI_DOUBLE, zeros)
    padded = zeros + (-zeros % 8)
    matrix = struct.pack("<II", MI_MATRIX, len(head) + padded) + head
    if not compressed:
        return matrix + bytes(padded)
    packer = zlib.compressobj(6)
    out = [packer.compress(matrix)]
    block = bytes(min(chunk, padded))
    left = padded
    while left:
        step = min(left, chunk)
        out.append(packer.compress(block[:step]))
        left -= step
    out.append(packer.flush())
    packed = b"".join(out)
    return struct.pack("<II", MI_COMPRESSED, len(packed)) + packed


def compressed_zeros_mat(samples: int, name: str = "x") -> bytes:
    """A MAT 5 file with one compressed ``double`` column of ``samples`` zeros (2**27: a 1 MB file)."""
    return mat_header() + mat_variable(name, (samples, 1), 8 * samples)


def lying_mat(declared: int = 4096, inflated: int = 8 * 2**25) -> bytes:
    """A MAT 5 file whose variable declares ``declared`` samples but whose data inflates to ``inflated``
    bytes (268 MB by default; 260 KB on the wire)."""
    return mat_header() + mat_variable("x", (declared, 1), inflated)


def zeros_parquet(rows: int, row_group: int = 1 << 20, compression: str = "zstd") -> bytes:
    """A Parquet file with one float64 column of ``rows`` zeros, written one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("DE", pa.float64())])
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression=compression) as writer:
        left = rows
        while left:
            n = min(left, row_group)
            writer.write_table(pa.table({"DE": np.zeros(n)}, schema=schema))
            left -= n
    return buf.getvalue()


def wide_parquet(columns: int) -> bytes:
    """A one-row Parquet file with ``columns`` float columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({f"c{i}": pa.array([0.0]) for i in range(columns)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def wide_csv(columns: int) -> bytes:
    """A one-row headerless CSV with ``columns`` numbers (100,000 columns: 200 KB)."""
    return (",".join(["0"] * columns) + "\n").encode()


def npy_claiming(shape: tuple[int, ...], descr: str = "<f8", payload: bytes = b"\x00" * 64) -> bytes:
    """An NPY file whose header declares ``shape`` / ``descr`` followed by only ``payload``."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def wav_bytes(
    *, channels: int = 1, rate: int = 12000, bits: int = 16, fmt: int = 1, frames: int = 4096,
    data_size: int | None = None,
) -> bytes:
    """A RIFF/WAVE file whose ``fmt`` chunk says what the arguments say (consistent or not), zero samples."""
    block = channels * bits // 8
    body = bytes(min(frames * max(block, 1), 1 << 16))
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    size = len(body) if data_size is None else data_size
    chunks = b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    chunks += b"data" + struct.pack("<I", size) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


HOSTILE: dict[str, tuple[str, object]] = {
    # name: (upload file name, builder) — what issue 14 reproduced against the running service
    "mat_2e27_zeros_compressed": ("x.mat", lambda: compressed_zeros_mat(2**27)),
    "parquet_50M_zeros_zstd": ("x.parquet", lambda: zeros_parquet(50_000_000)),
    "csv_one_row_100k_columns": ("x.csv", lambda: wide_csv(100_000)),
    "parquet_20k_columns": ("x.parquet", lambda: wide_parquet(20_000)),
    "npy_header_1e10": ("x.npy", lambda: npy_claiming((10**10,))),
    "npy_header_1e5x1e5": ("x.npy", lambda: npy_claiming((10**5, 10**5))),
    # issue 24 item 8: the header says 4,096 samples, the data inflates to 268 MB
    "mat_4096_declared_268MB_inflated": ("x.mat", lambda: lying_mat()),
    "wav_0_bits_per_sample": ("x.wav", lambda: wav_bytes(bits=0)),
    "wav_truncated_30_bytes": ("x.wav", lambda: wav_bytes()[:30]),
}
