"""The end of a comparison script: its figure and ``summary.json`` in its output folder."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Sequence


def write_report(fig: Any, summary: dict[str, Any], out_dir: str, figure_name: str, *,
                 dpi: int = 120, copy_to: Sequence[str] = ()) -> dict[str, Any]:
    """Save the matplotlib ``fig`` as ``out_dir/figure_name`` (its path goes in ``summary["figure"]``),
    close it, copy it to each path of ``copy_to`` (the last in ``summary["figure_copy"]``), write
    ``summary`` to ``out_dir/summary.json`` and print it as one JSON line; returns it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    summary["figure"] = os.path.join(out_dir, figure_name)
    fig.savefig(summary["figure"], dpi=dpi)
    plt.close(fig)
    for copy in copy_to:
        shutil.copyfile(summary["figure"], copy)
        summary["figure_copy"] = copy
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary))
    return summary
