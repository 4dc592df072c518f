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
a python3.12 interpreter with ``-I -B`` (nothing written, as on Lambda, whose
``/var/task`` is read-only) against a bare ``import chalice, boto3`` from the
same directory; then the same with the package built without its bytecode, as
``chalice package`` builds it, and the first request's imports (PynamoDB,
pydantic, a botocore DynamoDB client) in both. It is measured when this machine
has a python3.12 (``PERMESSO_LAMBDA_PYTHON``, pyenv's, or ``python3.12`` on the
PATH), and reported as not measured otherwise. Absolute times on this machine
are not Lambda's: only the ratios are comparable.

    python -m bench.cold_start [--samples 15] [--no-request] [--no-package]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    """Seconds a fresh interpreter takes to run ``code`` (another interpreter: isolated, from ``cwd``)."""
    start = time.perf_counter()
    if python != sys.executable:  # the package alone on the path, as in /var/task; nothing written
        code = f"import sys; sys.path.insert(0, {str(cwd)!r}); {code}"
        command = [python, "-I", "-B", "-c", code]
    else:
        command = [sys.executable, "-c", code]
    subprocess.run(  # nosec B603 — a local interpreter on our own code
        command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def lambda_python() -> str | None:
    """A python3.12 interpreter (the Lambda runtime's version) on this machine, if any."""
    from infra.lambda_package import runtime_python

    return runtime_python()


# What the first request adds to ``import app`` (PynamoDB, pydantic, a botocore client); no server.
FIRST_IMPORTS = (
    "import app, pydantic, pynamodb.models, botocore.session; "
    "botocore.session.get_session().create_client('dynamodb', region_name='eu-central-1')"
)


def measure_package(samples: int, python: str) -> dict[str, float | str]:
    """The deployment package unzipped and imported by ``python`` (-I -B), with and without bytecode."""
    from infra.lambda_package import TARGET, build, same_python_on

    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
        platform.machine().lower()
    ]
    target = TARGET if machine == "aarch64" else same_python_on(machine)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PERMESSO_STAGE": "prod",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="permesso-cold-") as scratch:
        for variant, compiled in (("package", True), ("nobytecode", False)):
            package = build(Path(scratch) / f"{variant}.zip", target=target, compile_bytecode=compiled)
            task = Path(scratch) / variant
            with zipfile.ZipFile(package) as archive:
                archive.extractall(task)
            codes = {
                "baseline": BASELINE,
                "app": APP,
                "first": FIRST_IMPORTS,
            }
            for code in codes.values():  # the page cache, as on a warm Lambda host
                _sample(code, env, python, task)
            times: dict[str, list[float]] = {name: [] for name in codes}
            for _ in range(samples):
                for name, code in codes.items():
                    times[name].append(_sample(code, env, python, task))
            for name, values in times.items():
                medians[f"{variant}_{name}_median_s"] = statistics.median(values)
        version = subprocess.run(  # nosec B603 — the interpreter found above
            [python, "-c", "import platform; print(platform.python_version())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    return {
        "package_python": version,
        "package_machine": machine,
        "package_samples": samples,
        **medians,
        "package_ratio": medians["package_app_median_s"] / medians["package_baseline_median_s"],
        "package_first_ratio": medians["package_first_median_s"] / medians["package_baseline_median_s"],
        "bytecode_speedup_first": medians["nobytecode_first_median_s"] / medians["package_first_median_s"],
        "bytecode_speedup_app": medians["nobytecode_app_median_s"] / medians["package_app_median_s"],
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


def measure(
    samples: int, first_request: bool = True, package: bool = True, package_samples: int = 5
) -> dict[str, float | str]:
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
            result.update(measure_package(package_samples, python))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--no-request", action="store_true", help="measure the import only")
    parser.add_argument("--no-package", action="store_true", help="skip the deployment package on python3.12")
    parser.add_argument("--package-samples", type=int, default=5, help="samples of each package figure")
    args = parser.parse_args()
    result = measure(
        args.samples,
        first_request=not args.no_request,
        package=not args.no_package,
        package_samples=args.package_samples,
    )
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
        ms = {key: float(value) * 1000 for key, value in result.items() if key.endswith("_median_s")}
        print(
            f"the deployment package on Python {result['package_python']} ({result['package_machine']}): "
            f"bare chalice+boto3 {ms['package_baseline_median_s']:.0f} ms, import app "
            f"{ms['package_app_median_s']:.0f} ms ({float(result['package_ratio']):.2f}x), first request's "
            f"imports {ms['package_first_median_s']:.0f} ms; without bytecode (as chalice packages): import app "
            f"{ms['nobytecode_app_median_s']:.0f} ms, first request's imports {ms['nobytecode_first_median_s']:.0f} ms "
            f"({float(result['bytecode_speedup_first']):.1f}x slower)"
        )
    elif "package_not_measured" in result:
        print(f"cold start of the deployment package: not measured ({result['package_not_measured']})")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
