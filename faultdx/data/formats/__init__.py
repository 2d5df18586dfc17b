"""One module per signal-file format; :mod:`faultdx.data.readers` picks one by the file's extension.

Every reader takes ``(data, where, pick, budget)`` — the file's bytes, the name to put in messages, which
channels to read (:class:`~faultdx.data.formats.contract.Pick`) and the sample budget
(:class:`~faultdx.data.formats.contract.Budget`) — and returns ``(samples [C, T], rate or None, channel
names)``. Each checks the budget from what the format declares (headers, footers, first lines) before it
decodes: :mod:`.csvfile`, :mod:`.parquet`, :mod:`.npy`, :mod:`.wav`, and MATLAB in :mod:`.mat` over the
header-first MAT 5 parser :mod:`.mat5`.
"""
