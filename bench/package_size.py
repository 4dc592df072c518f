"""Size of the Lambda deployment package, as ratios to AWS Lambda's limits.

Builds the package exactly as it is deployed: ``infra/lambda_package.py``
(python3.12 on arm64, the wheels of ``requirements.lock``, hash-checked; the
stack points every function at it), into a temporary directory. Then measures:

- the zipped ``deployment.zip`` against the 50 MiB limit of a direct upload;
- the unzipped size (the sum of the archive's file sizes) against the 250 MiB
  limit of a function's code;
- the five biggest distributions in it: each installed distribution's files
  are found from its ``*.dist-info/RECORD`` (so ``PyYAML`` counts ``yaml/`` and
  ``_yaml/``); files of no distribution (``chalicelib/``, ``app.py``, Chalice's
  runtime) count under their top-level name;
- boto3 and botocore, which the Lambda runtime already provides: whether the
  package carries them anyway, and their share.

The product's goals: unzipped at most 0.2 of 250 MiB (room to grow fivefold,
or to add layers, before the limit), zipped at most 0.5 of the 50 MiB direct
upload. Prints the figures and writes ``bench/results/package_size.json``.

    python -m bench.package_size
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"
MIB = 1024 * 1024
ZIPPED_LIMIT = 50 * MIB  # direct upload of a .zip
UNZIPPED_LIMIT = 250 * MIB  # the function's code and its layers, unzipped
GOALS = {"unzipped_ratio": 0.2, "zipped_ratio": 0.5}
RUNTIME_PROVIDED = ("boto3", "botocore")
TOP = 5


def build(out_dir: Path) -> Path:
    """The deployment package as the stack deploys it; the path of ``deployment.zip``."""
    from infra.lambda_package import build as build_package

    return build_package(out_dir / "deployment.zip")


def _distribution_name(dist_info: str) -> str:
    """``PyYAML-6.0.3.dist-info`` → ``PyYAML``."""
    return dist_info.removesuffix(".dist-info").rsplit("-", 1)[0]


def by_distribution(archive: zipfile.ZipFile) -> Counter[str]:
    """Unzipped bytes per distribution (from the RECORD files), else per top-level name."""
    sizes = {info.filename: info.file_size for info in archive.infolist() if not info.is_dir()}
    owner: dict[str, str] = {}
    for name in sizes:
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info") and rest == "RECORD":
            distribution = _distribution_name(top)
            record = archive.read(name).decode("utf-8")
            for row in csv.reader(io.StringIO(record)):
                if row:
                    owner[os.path.normpath(row[0])] = distribution
    totals: Counter[str] = Counter()
    for name, size in sizes.items():
        top = name.split("/", 1)[0]
        totals[owner.get(name, _distribution_name(top) if top.endswith(".dist-info") else top)] += size
    return totals


def measure(package: Path) -> dict[str, Any]:
    with zipfile.ZipFile(package) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        files = sum(1 for info in archive.infolist() if not info.is_dir())
        distributions = by_distribution(archive)
    zipped = package.stat().st_size
    lowered = {name.lower(): size for name, size in distributions.items()}
    runtime = {name: lowered.get(name, 0) for name in RUNTIME_PROVIDED}
    ratios = {
        "zipped_ratio": round(zipped / ZIPPED_LIMIT, 4),
        "unzipped_ratio": round(unzipped / UNZIPPED_LIMIT, 4),
    }
    from infra.lambda_package import TARGET

    return {
        "stage": STAGE,
        "runtime": TARGET.runtime,
        "architecture": TARGET.architecture,
        "zipped_bytes": zipped,
        "unzipped_bytes": unzipped,
        "files": files,
        "limits_bytes": {"zipped": ZIPPED_LIMIT, "unzipped": UNZIPPED_LIMIT},
        **ratios,
        "goals": GOALS,
        "met": {name: ratios[name] <= goal for name, goal in GOALS.items()},
        "biggest": [{"name": name, "unzipped_bytes": size} for name, size in distributions.most_common(TOP)],
        "runtime_provided_in_package": runtime,
        "runtime_provided_share_of_unzipped": round(sum(runtime.values()) / unzipped, 4),
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="permesso-package-") as scratch:
        result = measure(build(Path(scratch) / "package"))
    print(
        f"package ({STAGE}): zipped {result['zipped_bytes'] / MIB:.1f} MiB = {result['zipped_ratio']} "
        f"of 50 MiB (goal <= {GOALS['zipped_ratio']}); unzipped {result['unzipped_bytes'] / MIB:.1f} MiB "
        f"= {result['unzipped_ratio']} of 250 MiB (goal <= {GOALS['unzipped_ratio']}); {result['files']} files"
    )
    for entry in result["biggest"]:
        print(f"  {entry['name']}: {entry['unzipped_bytes'] / MIB:.1f} MiB unzipped")
    carried = {name: size for name, size in result["runtime_provided_in_package"].items() if size}
    print(
        "  in the Lambda runtime too: "
        + (", ".join(f"{n} {s / MIB:.1f} MiB" for n, s in carried.items()) or "none packaged")
        + f" ({result['runtime_provided_share_of_unzipped']} of the unzipped package)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "package_size.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
