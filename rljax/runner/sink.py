"""Where a run's metrics go: ``metrics.csv``, TensorBoard, W&B when asked, and the curves figure.

Runs are laid out as ``len(groups) x seeds``: run ``g * seeds + s`` is seed
``s`` of group ``g`` (one group per swept value; a single unnamed group
without a sweep). Each update becomes one CSV row: every metric's mean over
a group's seeds (``episode_return``; ``episode_return[learning_rate=0.001]``
in a sweep) and each seed's episode return (``.../seed0``); rows after an
evaluation also hold ``eval_return`` and each seed's (``eval_return/seed0``),
so that a dip in the mean can be traced to the seeds that made it.
"""

from __future__ import annotations

import csv
import os
import warnings
from typing import Any, Sequence

import numpy as np

from rljax.runner.chunks import Chunk


def _column(metric: str, group: str) -> str:
    return f"{metric}[{group}]" if group else metric


def read_rows(path: str) -> list[dict[str, float]]:
    """The rows of a ``metrics.csv`` (``update`` as int, every other column as float; empty -> nan)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{k: (int(float(v)) if k == "update" else float(v) if v not in ("", None) else float("nan"))
                 for k, v in row.items()} for row in csv.DictReader(f)]


class MetricsSink:
    """Writes each chunk's updates to ``metrics.csv``, TensorBoard (and W&B when asked) under
    ``run_dir``; keeps every row of the run.

    ``resume_update``: continue a run in its folder after a checkpoint at that
    update: its CSV rows up to it are kept (rows the stopped run wrote past it
    are dropped, as TensorBoard is told to drop its events past them), so the
    folder holds one row per update and one continuous curve.
    ``wandb``: a :class:`rljax.runner.wandb_log.WandbLog` (or None).
    ``write=False`` keeps the rows and writes nothing (the processes of a
    multi-host run other than process 0).
    """

    def __init__(self, run_dir: str, groups: Sequence[str], seeds: int, *, resume_update: int | None = None,
                 wandb: Any = None, write: bool = True):
        from tensorboardX import SummaryWriter

        self.groups, self.seeds, self.write = list(groups), int(seeds), write
        self._csv_path = os.path.join(run_dir, "metrics.csv")
        self.rows: list[dict[str, float]] = []
        if resume_update is not None:
            self.rows = [r for r in read_rows(self._csv_path) if r["update"] <= resume_update]
        self._fields: list[str] = list(dict.fromkeys(k for r in self.rows for k in r))
        self._wandb = wandb
        self._tensorboard = None
        if not write:
            return
        self._rewrite()
        # TensorBoard drops the stopped run's events from this step on (its x axis is env steps).
        purge_step = int(self.rows[-1]["env_steps"]) + 1 if self.rows else None
        self._tensorboard = SummaryWriter(run_dir, purge_step=purge_step)

    def _rewrite(self) -> None:
        """Write the whole CSV anew (atomically): at the start, and when a new column appears."""
        if not self.rows and not os.path.exists(self._csv_path):
            return
        temporary = self._csv_path + ".tmp"
        with open(temporary, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._fields, restval="nan")
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(temporary, self._csv_path)

    def _append(self, rows: list[dict[str, float]]) -> None:
        with open(self._csv_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._fields, restval="nan").writerows(rows)

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

    def add(self, chunk: Chunk, eval_returns: np.ndarray | None = None, updates: int | None = None
            ) -> list[dict[str, float]]:
        """Write the chunk's updates (its first ``updates`` of them; all by default); returns their rows.

        ``eval_returns [runs]``: a deterministic evaluation after the chunk's
        last update, written on its row as ``eval_return`` (the mean per
        group) and ``eval_return/seed<s>``.
        """
        new = [self._row(chunk.first_update + i, chunk.metrics, i) for i in range(updates or chunk.size)]
        if eval_returns is not None:
            for g, group in enumerate(self.groups):
                per_seed = np.asarray(eval_returns[g * self.seeds:(g + 1) * self.seeds], np.float64)
                name = _column("eval_return", group)
                new[-1][name] = float(np.mean(per_seed))
                for s, value in enumerate(per_seed):
                    new[-1][f"{name}/seed{s}"] = float(value)
        fields = list(dict.fromkeys([*self._fields, *(k for r in new for k in r)]))
        self.rows += new
        if not self.write:
            self._fields = fields
            return new
        if fields != self._fields or not os.path.exists(self._csv_path):
            self._fields = fields
            self._rewrite()
        else:
            self._append(new)
        for row in new:
            for name, value in row.items():
                if name != "update" and np.isfinite(value):
                    self._tensorboard.add_scalar(name, value, int(row["env_steps"]))
            if self._wandb is not None:
                self._wandb.log(row)
        self._tensorboard.flush()
        return new

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
        if self._wandb is not None:
            self._wandb.close()

    def plot(self, path: str, title: str) -> None:
        """Episode return against env steps: per group, the mean and min-max band over seeds, and the
        periodic deterministic evaluations as points."""
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
            evaluated = [(r["env_steps"], r.get(_column("eval_return", group), np.nan)) for r in self.rows]
            evaluated = np.array([e for e in evaluated if np.isfinite(e[1])]).reshape(-1, 2)
            if len(evaluated):
                ax.plot(evaluated[:, 0], evaluated[:, 1], "o--", color=line.get_color(), markersize=4,
                        label=f"{group} evaluation" if group else "deterministic evaluation")
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.set_title(title + (f" ({self.seeds} seeds each; bands: min-max)" if self.groups[0] else ""), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
