"""Batch scoring of recording archives: every file becomes one row of a Parquet table.

    files / folders / globs + machine context (sidecar table or flags)                      (.inputs)
      → read_for_model → :class:`~faultdx.diagnose.Diagnoser` → ``Diagnosis.as_row()``    (.rows)
      → part files of a few hundred rows → one Parquet table, merged atomically at the end    (.sink)

Every file is scored by :func:`score_file`, whichever engine runs it (:mod:`.engines`: a local process pool,
or Ray Data on a local cluster bound to loopback or an existing cluster), so both engines write the same rows.
A file that cannot be read or diagnosed gets a row with its ``error`` and the run goes on; only regular files
are opened (a FIFO, a device or a link to one gets a row saying so), each after its size on disk is checked.

Memory stays bounded whatever the archive size: files are listed lazily and handed out a few at a time, and
rows are written to ``<out>.parts/`` as they come in; only the names of the files already done are held. A
killed run loses at most its last part: the next run with the same ``--out`` skips every file already in the
output or its parts, and merges them all into ``out`` (streamed, row group by row group).
"""

from faultdx.score.engines import RayScorer, run_local, run_ray
from faultdx.score.inputs import (
    SIDECAR_FIELDS,
    Job,
    ScoreInputError,
    check_context,
    discover,
    file_key,
    plan,
    read_sidecar,
)
from faultdx.score.rows import SCHEMA, history_recorder, load_diagnoser, rows_to_table, score_file
from faultdx.score.run import ENGINES, Engine, ScoreSummary, score_archive
from faultdx.score.sink import MERGE_ROWS, PART_ROWS, PART_SECONDS, ResultSink, done_files, parts_dir

__all__ = [
    "ENGINES", "MERGE_ROWS", "PART_ROWS", "PART_SECONDS", "SCHEMA", "SIDECAR_FIELDS", "Engine", "Job",
    "RayScorer", "ResultSink", "ScoreInputError", "ScoreSummary", "check_context", "discover", "done_files",
    "file_key", "history_recorder", "load_diagnoser", "parts_dir", "plan", "read_sidecar",
    "rows_to_table", "score_archive", "score_file", "run_local", "run_ray",
]
