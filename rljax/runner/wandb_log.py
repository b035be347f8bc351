"""Weights & Biases logging of a run's rows (optional: ``pip install wandb``).

Offline runs (``WANDB_MODE=offline``) need no network; ``wandb sync`` uploads
them later. A resumed run continues the same W&B run: its id is kept in the
run folder.
"""

from __future__ import annotations

import math
import os
import uuid
from typing import Any


def check_available() -> None:
    """Raise ``ValueError`` before anything is built when ``wandb`` is not installed."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ValueError("--wandb needs the wandb package: pip install wandb (or pip install -e '.[wandb]')") from None


class WandbLog:
    """One W&B run per run folder; rows logged with the update as W&B's step."""

    def __init__(self, project: str, run_dir: str, config: dict[str, Any]):
        check_available()
        import wandb

        id_path = os.path.join(run_dir, "wandb_id.txt")
        if os.path.exists(id_path):
            with open(id_path) as f:
                run_id = f.read().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            with open(id_path, "w") as f:
                f.write(run_id)
        self._run = wandb.init(project=project, dir=run_dir, id=run_id, resume="allow",
                               name=os.path.basename(os.path.normpath(run_dir)), config=config)

    def log(self, row: dict[str, float]) -> None:
        values = {k: v for k, v in row.items() if k != "update" and math.isfinite(v)}
        self._run.log(values, step=int(row["update"]))

    def close(self) -> None:
        self._run.finish()
