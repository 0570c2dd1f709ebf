"""Scale: data preparation for logs larger than memory (DuckDB, Spark) and streamed training.

``prepare_out_of_core`` is the out-of-core twin of :func:`segue.prepare_data`; its windows are
read back by :class:`ShardedWindows`, which the trainer consumes like ``TrainingSequences``.
"""

from segue.scale.dataset import ShardedWindows
from segue.scale.engine import DuckDBEngine, SparkEngine, SqlEngine
from segue.scale.pipeline import ShardedData, prepare_out_of_core
from segue.scale.train import StreamedTrainingConfig, StreamedTrainingResult, train_streamed
from segue.scale.vocab import load_vocab, track_counts

__all__ = [
    "DuckDBEngine",
    "ShardedData",
    "ShardedWindows",
    "SparkEngine",
    "SqlEngine",
    "StreamedTrainingConfig",
    "StreamedTrainingResult",
    "load_vocab",
    "prepare_out_of_core",
    "track_counts",
    "train_streamed",
]
