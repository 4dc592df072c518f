"""Cold-start import cost of the Lambda code, as a ratio to a bare ``chalice`` + ``boto3``.

Each sample is a fresh interpreter (as a Lambda cold start is); the two
commands alternate so machine noise hits both alike. Prints medians and the
ratio (goal ≤ 1.3x), and writes ``bench/results/cold_start.json``.

    python -m bench.cold_start [--samples 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import chalice, boto3"
APP = "import app"
GOAL = 1.3


def _sample(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def measure(samples: int) -> dict[str, float]:
    env = {**os.environ, "PERMESSO_STAGE": "local", "PYTHONDONTWRITEBYTECODE": "1"}
    for code in (BASELINE, APP):  # warm the page cache and .pyc files once
        _sample(code, env)
    base, app = [], []
    for _ in range(samples):
        base.append(_sample(BASELINE, env))
        app.append(_sample(APP, env))
    return {
        "baseline_median_s": statistics.median(base),
        "app_median_s": statistics.median(app),
        "ratio": statistics.median(app) / statistics.median(base),
        "goal": GOAL,
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    result = measure(parser.parse_args().samples)
    print(
        f"cold start: bare chalice+boto3 {result['baseline_median_s'] * 1000:.0f} ms, "
        f"import app {result['app_median_s'] * 1000:.0f} ms, "
        f"ratio {result['ratio']:.2f}x (goal <= {GOAL}x)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
