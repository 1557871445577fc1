"""What the benchmark scripts share: where the evaluation data is, and how a report is written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1" / "dev-v1.1.json"
RESULTS = ROOT / "benchmarks" / "results"


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write ``report`` as indented JSON to ``out`` (its folder made if needed) and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")
