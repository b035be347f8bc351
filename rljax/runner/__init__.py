"""Experiment runner: many runs as one program in compiled chunks, with logs,
checkpoints, evaluation and a command line.

- :mod:`rljax.runner.chunks`: the chunked training iterator (init, compiled chunks of updates);
- :mod:`rljax.runner.sink`: metrics.csv, TensorBoard, curves;
- :mod:`rljax.runner.evaluation`: the final deterministic evaluation;
- :mod:`rljax.runner.sweep`: ``--sweep FIELD=v1,v2`` as one stacked Config;
- :mod:`rljax.runner.run`: :func:`run`, which puts them together with checkpoints;
- :mod:`rljax.runner.cli`: :func:`cli`, an experiment script's command line.
"""

from rljax.runner.chunks import Chunk, chunk_sizes, init_runs, train_in_chunks
from rljax.runner.cli import cli, env_from_argv
from rljax.runner.run import RunOptions, run

__all__ = ["Chunk", "chunk_sizes", "init_runs", "train_in_chunks", "cli", "env_from_argv", "RunOptions", "run"]
