"""Where a run's metrics go: ``metrics.csv``, TensorBoard, and the curves figure.

Runs are laid out as ``len(groups) x seeds``: run ``g * seeds + s`` is seed
``s`` of group ``g`` (one group per swept value; a single unnamed group
without a sweep). Each update becomes one CSV row: every metric's mean over
a group's seeds (``episode_return``; ``episode_return[learning_rate=0.001]``
in a sweep) and each seed's episode return (``.../seed0``).
"""

from __future__ import annotations

import csv
import os
import warnings
from typing import Sequence

import numpy as np

from rljax.runner.chunks import Chunk


def _column(metric: str, group: str) -> str:
    return f"{metric}[{group}]" if group else metric


class MetricsSink:
    """Appends each chunk's updates to ``metrics.csv`` and TensorBoard under ``run_dir``; keeps the rows."""

    def __init__(self, run_dir: str, groups: Sequence[str], seeds: int):
        from tensorboardX import SummaryWriter

        self.groups, self.seeds = list(groups), int(seeds)
        self.rows: list[dict[str, float]] = []
        self._csv_path = os.path.join(run_dir, "metrics.csv")
        self._csv_file = None
        self._csv_writer: csv.DictWriter | None = None
        self._tensorboard = SummaryWriter(run_dir)

    def _row(self, update: int, metrics: dict[str, np.ndarray], i: int) -> dict[str, float]:
        row: dict[str, float] = {"update": update}
        steps = metrics["env_steps"][:, i]
        row["env_steps"] = float(np.mean(steps))
        for g, group in enumerate(self.groups):
            runs = slice(g * self.seeds, (g + 1) * self.seeds)
            for name, value in metrics.items():
                if name == "env_steps":
                    continue
                values = np.asarray(value[runs, i], np.float64)
                with np.errstate(all="ignore"):
                    row[_column(name, group)] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            returns = metrics["episode_return"]
            for s in range(self.seeds):
                row[f"{_column('episode_return', group)}/seed{s}"] = float(returns[g * self.seeds + s, i])
        return row

    def add(self, chunk: Chunk) -> list[dict[str, float]]:
        """Write the chunk's updates; returns their rows."""
        new = [self._row(chunk.first_update + i, chunk.metrics, i) for i in range(chunk.size)]
        for row in new:
            for name, value in row.items():
                if name != "update" and np.isfinite(value):
                    self._tensorboard.add_scalar(name, value, int(row["env_steps"]))
            if self._csv_writer is None:
                self._csv_file = open(self._csv_path, "w", newline="")
                self._csv_writer = csv.DictWriter(self._csv_file, fieldnames=list(row))
                self._csv_writer.writeheader()
            self._csv_writer.writerow(row)
        if self._csv_file is not None:
            self._csv_file.flush()
        self._tensorboard.flush()
        self.rows += new
        return new

    def close(self) -> None:
        self._tensorboard.close()
        if self._csv_file is not None:
            self._csv_file.close()

    def plot(self, path: str, title: str) -> None:
        """Episode return against env steps: per group, the mean and min-max band over seeds."""
        if not self.rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = np.array([r["env_steps"] for r in self.rows])
        fig, ax = plt.subplots(figsize=(6, 4))
        for group in self.groups:
            name = _column("episode_return", group)
            per_seed = np.array([[r[f"{name}/seed{s}"] for s in range(self.seeds)] for r in self.rows])
            with warnings.catch_warnings():  # early updates can have no finished episode yet
                warnings.simplefilter("ignore", RuntimeWarning)
                line, = ax.plot(steps, np.nanmean(per_seed, axis=1), label=group or "mean")
                ax.fill_between(steps, np.nanmin(per_seed, axis=1), np.nanmax(per_seed, axis=1), alpha=0.2,
                                color=line.get_color(),
                                label=None if group else f"min-max over {self.seeds} seeds")
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.set_title(title + (f" ({self.seeds} seeds each; bands: min-max)" if self.groups[0] else ""), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
