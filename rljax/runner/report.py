"""The end of a comparison script: its figure and ``summary.json`` in its output folder."""

from __future__ import annotations

import json
import os
from typing import Any


def write_report(fig: Any, summary: dict[str, Any], out_dir: str, figure_name: str, *,
                 dpi: int = 120) -> dict[str, Any]:
    """Save the matplotlib ``fig`` as ``out_dir/figure_name`` (its path goes in ``summary["figure"]``),
    close it, write ``summary`` to ``out_dir/summary.json`` and print it as one JSON line; returns it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    summary["figure"] = os.path.join(out_dir, figure_name)
    fig.savefig(summary["figure"], dpi=dpi)
    plt.close(fig)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary))
    return summary
