"""The user's own files: every format, the sampling rate from the file, and every bad-input message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faultdx.data.readers import SignalFileError, read_signal, validate_signal
from tests.data_helpers import isolated_cache, needs_cwru, write_cwru_mat, write_mfpt_mat  # noqa: F401

X = np.sin(np.arange(3000) / 7.0)


def test_csv_with_header_rate_column_and_time_column(tmp_path):
    pd.DataFrame({"DE": X, "FE": 2 * X}).to_csv(tmp_path / "a.csv", index=False)
    s = read_signal(tmp_path / "a.csv")
    assert s.signal.shape == (2, 3000) and s.signal.dtype == np.float32 and s.channels == ("DE", "FE")
    assert s.sampling_rate is None
    assert read_signal(tmp_path / "a.csv", sampling_rate=12000, channel="FE").channels == ("FE",)
    pd.DataFrame({"time": np.arange(3000) / 25600, "acc": X}).to_csv(tmp_path / "b.csv", index=False)
    assert read_signal(tmp_path / "b.csv").sampling_rate == 25600
    pd.DataFrame({"acc": X, "fs": [12000] + [None] * 2999}).to_csv(tmp_path / "c.csv", index=False)
    s = read_signal(tmp_path / "c.csv")
    assert s.sampling_rate == 12000 and s.channels == ("acc",)
    np.savetxt(tmp_path / "d.csv", np.stack([X, X], axis=1), delimiter=",")  # headerless
    assert read_signal(tmp_path / "d.csv").signal.shape == (2, 3000)


def test_npy_wav_parquet(tmp_path):
    from scipy.io import wavfile

    np.save(tmp_path / "a.npy", np.stack([X, X, X], axis=1))  # [T, C] is turned into [C, T]
    s = read_signal(tmp_path / "a.npy", sampling_rate=48000)
    assert s.signal.shape == (3, 3000) and s.sampling_rate == 48000
    wavfile.write(tmp_path / "a.wav", 8000, np.stack([X, -X], axis=1).astype(np.float32) * 0.5)
    s = read_signal(tmp_path / "a.wav")
    assert s.sampling_rate == 8000 and s.signal.shape == (2, 3000)
    wavfile.write(tmp_path / "b.wav", 16000, (X * 16384).astype(np.int16))
    s = read_signal((tmp_path / "b.wav").read_bytes(), filename="upload.wav")
    assert s.sampling_rate == 16000 and np.allclose(s.signal[0], X * 0.5, atol=1e-4)
    frame = pd.DataFrame({"DE": X})
    frame.attrs = {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame).replace_schema_metadata({"sampling_rate": "12000"})
    pq.write_table(table, tmp_path / "a.parquet")
    s = read_signal(tmp_path / "a.parquet")
    assert s.sampling_rate == 12000 and s.channels == ("DE",)
    pd.DataFrame({"DE": X, "sr": 5000.0}).to_parquet(tmp_path / "b.parquet")
    assert read_signal(tmp_path / "b.parquet").sampling_rate == 5000


def test_mat_generic_cwru_and_mfpt_layouts(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "g.mat", {"vib": X[:, None], "fs": 25600.0})
    s = read_signal(tmp_path / "g.mat")
    assert s.sampling_rate == 25600 and s.channels == ("vib",)
    own = write_cwru_mat(tmp_path / "105.mat", 105, 3000, foreign=104)
    s = read_signal(tmp_path / "105.mat", channel="DE")
    assert s.channels == ("X105_DE_time",) and s.sampling_rate == 12000  # rate from the catalogue
    np.testing.assert_allclose(s.signal[0], own["X105_DE_time"][:, 0], rtol=1e-6)
    assert read_signal(tmp_path / "105.mat").channels == ("X105_DE_time", "X105_FE_time", "X105_BA_time")
    write_mfpt_mat(tmp_path / "m.mat", 3000)
    s = read_signal(tmp_path / "m.mat")
    assert s.sampling_rate == 48828 and s.channels == ("bearing.gs",) and s.signal.shape == (1, 3000)
    savemat(tmp_path / "two.mat", {"a": X[:, None], "b": X[:1000, None]})
    with pytest.raises(SignalFileError, match=r"differ in length \(a \(3000\), b \(1000\)\)"):
        read_signal(tmp_path / "two.mat")
    assert read_signal(tmp_path / "two.mat", channel="b").signal.shape == (1, 1000)


@needs_cwru
def test_real_publisher_files():
    from tests.data_helpers import REAL_ROOT

    s = read_signal(REAL_ROOT / "cwru/normal_baseline/97.mat", channel="DE")
    assert s.sampling_rate == 48000 and s.signal.shape == (1, 243938) and s.channels == ("X097_DE_time",)
    s = read_signal(REAL_ROOT / "mfpt/OuterRaceFault_vload_1.mat")
    assert s.sampling_rate == 48828 and s.signal.shape == (1, 146484)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"", "the file is empty"),
        ("a.npy", b"", "the file is empty"),
        ("a.csv", b"acc\n", "has a header but no rows"),
        ("a.csv", b"acc,temp\n0.1,hot\n0.2,cold\n", "column 'temp' is not numeric \\(row 0: 'hot'\\)"),
        (
            "a.csv",
            b"acc\n0.1\nnan\n0.3\n",
            "contains 1 NaN or Inf value\\(s\\) \\(first at channel 0, sample 1\\)",
        ),
        ("a.csv", b"acc\n0.1\ninf\n0.3\n", "NaN or Inf"),
        ("a.csv", b"\xff\xfe\x00\x81garbage\x00", "not a readable CSV file"),
        ("a.npy", b"\x93NUMPY garbage", "not a readable NPY file"),
        ("a.wav", b"RIFF\x00\x00garbage", "not a readable WAV file"),
        ("a.mat", b"MATLAB 5.0 garbage" * 3, "not a readable MATLAB file"),
        ("a.parquet", b"PAR1 garbage", "not a readable Parquet file"),
        ("a.txt", b"1\n2\n", "unsupported file type '.txt'; supported: .csv, .mat, .npy, .parquet, .wav"),
        ("noext", b"1\n2\n", "unsupported file type '\\(no extension\\)'"),
    ],
)
def test_bad_files_are_named(name, content, message):
    with pytest.raises(SignalFileError, match=message):
        read_signal(content, filename=name)


def test_more_bad_inputs(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(SignalFileError, match="the array is not numeric"):
        read_signal(tmp_path / "s.npy")
    np.save(tmp_path / "n.npy", np.array([1.0, np.nan, np.inf]))
    with pytest.raises(SignalFileError, match="contains 2 NaN or Inf"):
        read_signal(tmp_path / "n.npy")
    np.save(tmp_path / "short.npy", np.ones(100))
    with pytest.raises(SignalFileError, match="too short: 100 samples, at least 2048 needed"):
        read_signal(tmp_path / "short.npy", min_samples=2048)
    np.save(tmp_path / "empty.npy", np.ones(0))
    with pytest.raises(SignalFileError, match="signal is empty"):
        read_signal(tmp_path / "empty.npy")
    with pytest.raises(SignalFileError, match="cannot read the file"):
        read_signal(tmp_path / "missing.csv")
    with pytest.raises(SignalFileError, match="give a filename"):
        read_signal(b"1,2,3")
    pd.DataFrame({"DE": X}).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(SignalFileError, match="no channel 'FE'; channels: DE"):
        read_signal(tmp_path / "ok.csv", channel="FE")
    with pytest.raises(SignalFileError, match="channel index 3 out of range"):
        read_signal(tmp_path / "ok.csv", channel=3)
    with pytest.raises(
        SignalFileError,
        match="sampling rate from the sampling_rate argument must be a positive number, got -5",
    ):
        read_signal(tmp_path / "ok.csv", sampling_rate=-5)
    pd.DataFrame({"time": [0.0, 0.0, 0.1], "DE": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SignalFileError, match="time column must increase strictly"):
        read_signal(tmp_path / "t.csv")
    pd.DataFrame({"name": ["a", "b"]}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(SignalFileError, match="column 'name' is not numeric"):
        read_signal(tmp_path / "s.parquet")
    v73 = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ")
        + b"\x00" * 8
        + b"\x00\x02IM"
        + b"\x00" * 64
    )
    with pytest.raises(
        SignalFileError, match="MATLAB v7.3 \\(HDF5\\) files are not supported; save with -v7"
    ):
        read_signal(v73, filename="big.mat")


def test_validate_signal_for_json_input():
    assert validate_signal([1.0, 2.0, 3.0], min_samples=3).shape == (1, 3)
    assert validate_signal(np.ones((2, 5)), min_samples=5).dtype == np.float32
    with pytest.raises(SignalFileError, match="signal is not numeric"):
        validate_signal(["a", "b"], min_samples=1)
    with pytest.raises(SignalFileError, match="signal is empty"):
        validate_signal([], min_samples=1)
    with pytest.raises(SignalFileError, match="first at channel 1, sample 2"):
        validate_signal([[0, 0, 0], [0, 0, float("nan")]], min_samples=1)
    with pytest.raises(SignalFileError, match="too short: 3 samples, at least 2048 needed"):
        validate_signal([1, 2, 3], min_samples=2048)
    with pytest.raises(SignalFileError, match=r"must be 1-D \[samples\] or 2-D"):
        validate_signal(np.ones((1, 2, 3)), min_samples=1)
    assert issubclass(SignalFileError, ValueError)


# -- one reader for publisher files: the catalogue names the variables --------------------------------------
def test_cwru_file_is_read_by_its_catalogue_variable_number(tmp_path):
    """174.mat holds X173_* (the publisher's numbering): read by the catalogue's variable number, 48 kHz."""
    from faultdx.data.catalogue import cwru_file

    entry = cwru_file(174)
    assert entry.variable_number == 173 and entry.sampling_rate == 48000
    own = write_cwru_mat(tmp_path / "174.mat", 173, 4000, foreign=172)
    s = read_signal(tmp_path / "174.mat", default_channel="DE")
    assert s.channels == ("X173_DE_time",) and s.sampling_rate == 48000
    np.testing.assert_allclose(s.signal[0], own["X173_DE_time"][:, 0], rtol=1e-6)
    s = read_signal((tmp_path / "174.mat").read_bytes(), filename="174.mat")
    assert s.channels == ("X173_DE_time", "X173_FE_time", "X173_BA_time")  # not the foreign X172 record
    from faultdx.data.cwru import read_cwru_file

    both = read_cwru_file(tmp_path / "174.mat", entry, ("DE", "BA"))
    np.testing.assert_allclose(both, s.signal[[0, 2]])


def test_default_channel_is_picked_only_when_the_file_names_it(tmp_path):
    pd.DataFrame({"DE": X, "FE": 2 * X}).to_csv(tmp_path / "a.csv", index=False)
    assert read_signal(tmp_path / "a.csv", default_channel="FE").channels == ("FE",)
    assert read_signal(tmp_path / "a.csv", default_channel="BA").channels == ("DE", "FE")
    assert read_signal(tmp_path / "a.csv", channel=0, default_channel="FE").channels == ("DE",)
    with pytest.raises(SignalFileError, match="no channel 'BA'") as err:
        read_signal(tmp_path / "a.csv", channel="BA")
    assert err.value.field == "channel"


# -- strict types: refused with the reason, never coerced ---------------------------------------------------
def _npy(x: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.npy", _npy(np.ones(3000, dtype=np.complex64)), "complex \\(dtype complex64\\)"),
        ("b.npy", _npy(np.ones(3000, dtype=bool)), "boolean \\(dtype bool\\)"),
        ("u.npy", _npy(np.array(["1.0"] * 30)), "not numeric \\(dtype <U3\\)"),
        ("d.npy", _npy(np.array(["2020-01-01"] * 30, dtype="datetime64[D]")), "not numeric"),
        ("s.npy", _npy(np.zeros(30, dtype=[("a", "<f4"), ("b", "<f4")])), "not numeric"),
        ("o.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"
         .ljust(128 + 10, b" ") + b"\n", "not numeric \\(dtype object\\)"),
        ("3d.npy", _npy(np.ones((2, 3, 4))), "must be \\[samples\\] or 2-D"),
        ("n.npy", _npy(np.array([1.0, np.nan, 2.0])), "1 NaN or Inf value"),
        ("big.npy", _npy(np.array([1.0, 1e39, 2.0])), "beyond the float32 range"),
        ("t.npy", _npy(np.ones(3000))[:-8], "truncated: its header declares 24,000 bytes of data, it holds"),
        ("b.csv", b"acc\nTrue\nFalse\nTrue\n", "column 'acc' is boolean"),
        ("n.csv", b"acc\n1.0\n\n2.0\nnan\n", "NaN or Inf"),
        ("x.wav", b"RIFX" + b"\x00" * 40, "not a readable WAV file \\(ValueError: Not a WAV file"),
        ("a.wav", b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", "not a readable WAV file"),
    ],
)
def test_strict_types(name, content, message):
    with pytest.raises(SignalFileError, match=message):
        read_signal(content, filename=name, sampling_rate=1000)


def test_strict_types_in_parquet_and_mat(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.io import savemat

    pq.write_table(pa.table({"DE": pa.array([True, False] * 20)}), tmp_path / "b.parquet")
    with pytest.raises(SignalFileError, match="column 'DE' is boolean"):
        read_signal(tmp_path / "b.parquet", sampling_rate=1000)
    pq.write_table(pa.table({"DE": pa.array([[1.0, 2.0]] * 20)}), tmp_path / "l.parquet")
    with pytest.raises(SignalFileError, match="column 'DE' is not numeric \\(type list<"):
        read_signal(tmp_path / "l.parquet", sampling_rate=1000)
    pq.write_table(pa.table({"DE": pa.array([1.0, None, 2.0])}), tmp_path / "null.parquet")
    with pytest.raises(SignalFileError, match="1 NaN or Inf value"):
        read_signal(tmp_path / "null.parquet", sampling_rate=1000)
    savemat(tmp_path / "c.mat", {"x": (np.arange(300) * 1j)[:, None]})
    with pytest.raises(SignalFileError, match="variable 'x' is complex"):
        read_signal(tmp_path / "c.mat", sampling_rate=1000)
    savemat(tmp_path / "l.mat", {"x": np.ones(300, dtype=bool)[:, None]})
    with pytest.raises(SignalFileError, match="variable 'x' is boolean \\(logical\\)"):
        read_signal(tmp_path / "l.mat", sampling_rate=1000)


def test_every_wav_encoding_equals_scipys_reading(tmp_path):
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    encodings = [(np.uint8, 128), (np.int16, 32768), (np.int32, 2**31), (np.float32, 1), (np.float64, 1)]
    for dtype, scale in encodings:
        x = rng.uniform(-0.5, 0.5, (500, 2))
        data = (x * scale + (128 if dtype == np.uint8 else 0)).astype(dtype)
        wavfile.write(tmp_path / "a.wav", 8000, data)
        s = read_signal(tmp_path / "a.wav")
        _, want = wavfile.read(tmp_path / "a.wav")
        want = (want.astype(np.float64) - (128 if dtype == np.uint8 else 0)) / scale
        assert s.sampling_rate == 8000 and s.channels == ("ch0", "ch1")
        np.testing.assert_allclose(s.signal, want.T, atol=1e-7)
    # 24-bit PCM (scipy reads it as int32 shifted left by 8)
    values = np.array([0, 1, -1, 2**23 - 1, -(2**23), 12345])
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in values)
    from tests.hostile_files import wav_bytes

    header = wav_bytes(bits=24, frames=0, data_size=len(raw))
    s = read_signal(header + raw, filename="p24.wav")
    np.testing.assert_array_equal(s.signal[0] * 2**23, values)


def test_error_messages_are_bounded():
    short = (",".join(f"c{i}" for i in range(17)) + "\n" + ",".join(["1"] * 17) + "\n").encode()
    with pytest.raises(SignalFileError, match=r"channels: c0, c1, .*, c11, … \(17 in all\)$"):
        read_signal(short, filename="w.csv", channel="nope")
    header = ",".join(f"column_with_a_long_name_{i}" for i in range(17))
    long = (header + "\n" + ",".join(["1"] * 17)).encode()
    with pytest.raises(SignalFileError) as err:
        read_signal(long, filename="w.csv", channel="nope")
    assert len(str(err.value)) <= 300 and str(err.value).endswith("(truncated)")


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_a_wav_with_no_frames_is_an_empty_signal_whatever_its_channels(channels):
    from tests.hostile_files import wav_bytes

    with pytest.raises(SignalFileError, match="signal is empty"):
        read_signal(wav_bytes(channels=channels, frames=0), filename="z.wav")
