"""Cold-start import cost of the Lambda code, as a ratio to a bare ``chalice`` + ``boto3``.

Each sample is a fresh interpreter (as a Lambda cold start is); the two
commands alternate so machine noise hits both alike. Prints medians and the
ratio (goal ≤ 1.3x), and writes ``bench/results/cold_start.json``.

``import app`` defers services, storage, pydantic and PynamoDB to the first
request that needs them, so the import alone understates what a cold
invocation pays. The second figure, with the same baseline, is a fresh
interpreter that imports the app and serves one ``GET /v1/account`` through
the Lambda handler (an API Gateway proxy event): the API key is looked up in
DynamoDB (a moto server started here, its tables created first) and refused
with 401, so the sample pays pydantic, PynamoDB, a botocore client and one
GetItem round trip. No goal: it is there so nobody takes the deferred cost
for a saved one. ``--no-request`` skips it.

The third figure is the deployed artefact on the Lambda's Python: the package
``infra/lambda_package.py`` builds (python3.12; for this machine's CPU, since
the arm64 one cannot run here), unzipped into a fresh directory and imported by
a python3.12 interpreter with ``-I -B`` — no ``.pyc`` anywhere, as on Lambda,
whose ``/var/task`` is read-only — against a bare ``import chalice, boto3`` from
the same directory. It is measured when this machine has a python3.12
(``PERMESSO_BENCH_LAMBDA_PYTHON``, ``python3.12`` on the PATH, or pyenv's), and
reported as not measured otherwise. Absolute times on this machine are not
Lambda's: only the ratios are comparable.

    python -m bench.cold_start [--samples 15] [--no-request] [--no-package]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess  # nosec B404 — our own interpreter on our own code
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import chalice, boto3"
APP = "import app"
GOAL = 1.3
# One API Gateway (REST, proxy) request, as the Lambda receives it.
_EVENT = {
    "resource": "/v1/account",
    "path": "/v1/account",
    "httpMethod": "GET",
    "headers": {"Authorization": "Bearer pk_cold_start_probe", "Host": "bench.local"},
    "multiValueHeaders": {"Authorization": ["Bearer pk_cold_start_probe"], "Host": ["bench.local"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/v1/account",
        "httpMethod": "GET",
        "path": "/api/v1/account",
        "stage": "api",
        "requestId": "cold-start-probe",
    },
    "body": None,
    "isBase64Encoded": False,
}
FIRST_REQUEST = (
    f"import app\nresponse = app.app({_EVENT!r}, None)\nassert response['statusCode'] == 401, response\n"
)


def _sample(code: str, env: dict[str, str], python: str = sys.executable, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    flags = ["-I", "-B"] if python != sys.executable else []
    subprocess.run(  # nosec B603 — a local interpreter on our own code
        [python, *flags, "-c", code], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def lambda_python() -> str | None:
    """A python3.12 interpreter (the Lambda runtime's version) on this machine, if any."""
    from infra.lambda_package import TARGET

    version = TARGET.python_version
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [os.environ.get("PERMESSO_BENCH_LAMBDA_PYTHON")]
    candidates += [str(path) for path in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True)]
    candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run(  # nosec B603 — asks a local interpreter its version
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def measure_package(samples: int, python: str) -> dict[str, float | str]:
    """``import app`` from the unzipped deployment package under ``python`` (-I -B: no bytecode)."""
    from infra.lambda_package import TARGET, build, same_python_on

    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
        platform.machine().lower()
    ]
    target = TARGET if machine == "aarch64" else same_python_on(machine)
    with tempfile.TemporaryDirectory(prefix="permesso-cold-") as scratch:
        package = build(Path(scratch) / "deployment.zip", target=target)
        task = Path(scratch) / "task"
        with zipfile.ZipFile(package) as archive:
            archive.extractall(task)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PERMESSO_STAGE": "prod",
            "AWS_DEFAULT_REGION": "eu-central-1",
        }
        prefix = f"import sys; sys.path.insert(0, {str(task)!r}); "
        baseline, app = prefix + BASELINE, prefix + APP
        for code in (baseline, app):  # the page cache, as on a warm Lambda host (no .pyc is written)
            _sample(code, env, python, task)
        base, imported = [], []
        for _ in range(samples):
            base.append(_sample(baseline, env, python, task))
            imported.append(_sample(app, env, python, task))
        version = subprocess.run(  # nosec B603 — the interpreter found above
            [python, "-c", "import platform; print(platform.python_version())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    return {
        "package_python": version,
        "package_machine": machine,
        "package_baseline_median_s": statistics.median(base),
        "package_app_median_s": statistics.median(imported),
        "package_ratio": statistics.median(imported) / statistics.median(base),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def dynamodb_emulator(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` pointed at a moto server (stopped on exit) whose tables exist."""
    from local.run import start_moto

    port = _free_port()
    server = start_moto(port)
    try:
        env = {
            **env,
            "PERMESSO_AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",  # any credentials do for moto
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "PERMESSO_REGION": "eu-central-1",
        }
        create = "from chalicelib.config import get_settings\nfrom local.bootstrap import create_tables\n"
        _sample(create + "create_tables(get_settings())", env)
        yield env
    finally:
        server.stop()


def measure(samples: int, first_request: bool = True, package: bool = True) -> dict[str, float | str]:
    env = {**os.environ, "PERMESSO_STAGE": "local", "PYTHONDONTWRITEBYTECODE": "1"}
    for code in (BASELINE, APP):  # warm the page cache and .pyc files once
        _sample(code, env)
    base, app = [], []
    for _ in range(samples):
        base.append(_sample(BASELINE, env))
        app.append(_sample(APP, env))
    result: dict[str, float | str] = {
        "python": platform.python_version(),
        "baseline_median_s": statistics.median(base),
        "app_median_s": statistics.median(app),
        "ratio": statistics.median(app) / statistics.median(base),
        "goal": GOAL,
        "samples": samples,
    }
    if first_request:
        with dynamodb_emulator(env) as request_env:
            _sample(FIRST_REQUEST, request_env)
            base, served = [], []
            for _ in range(samples):
                base.append(_sample(BASELINE, request_env))
                served.append(_sample(FIRST_REQUEST, request_env))
        result["first_request_baseline_median_s"] = statistics.median(base)
        result["first_request_median_s"] = statistics.median(served)
        result["first_request_ratio"] = statistics.median(served) / statistics.median(base)
    if package:
        python = lambda_python()
        if python is None:
            result["package_not_measured"] = "no python3.12 on this machine"
        else:
            result.update(measure_package(samples, python))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--no-request", action="store_true", help="measure the import only")
    parser.add_argument("--no-package", action="store_true", help="skip the deployment package on python3.12")
    args = parser.parse_args()
    result = measure(args.samples, first_request=not args.no_request, package=not args.no_package)
    print(
        f"cold start: bare chalice+boto3 {result['baseline_median_s'] * 1000:.0f} ms, "
        f"import app {result['app_median_s'] * 1000:.0f} ms, "
        f"ratio {result['ratio']:.2f}x (goal <= {GOAL}x)"
    )
    if "first_request_ratio" in result:
        print(
            f"cold start + first GET /v1/account (one DynamoDB GetItem): "
            f"bare chalice+boto3 {result['first_request_baseline_median_s'] * 1000:.0f} ms, "
            f"import app + request {result['first_request_median_s'] * 1000:.0f} ms, "
            f"ratio {result['first_request_ratio']:.2f}x (no goal)"
        )
    if "package_ratio" in result:
        print(
            f"cold start of the deployment package on Python {result['package_python']} "
            f"({result['package_machine']}, no bytecode): bare chalice+boto3 "
            f"{float(result['package_baseline_median_s']) * 1000:.0f} ms, import app "
            f"{float(result['package_app_median_s']) * 1000:.0f} ms, ratio {float(result['package_ratio']):.2f}x"
        )
    elif "package_not_measured" in result:
        print(f"cold start of the deployment package: not measured ({result['package_not_measured']})")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
