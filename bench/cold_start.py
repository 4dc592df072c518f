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

    python -m bench.cold_start [--samples 15] [--no-request]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess  # nosec B404 — our own interpreter on our own code
import sys
import time
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


def _sample(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(  # nosec B603 — our own interpreter on our own code
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


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


def measure(samples: int, first_request: bool = True) -> dict[str, float]:
    env = {**os.environ, "PERMESSO_STAGE": "local", "PYTHONDONTWRITEBYTECODE": "1"}
    for code in (BASELINE, APP):  # warm the page cache and .pyc files once
        _sample(code, env)
    base, app = [], []
    for _ in range(samples):
        base.append(_sample(BASELINE, env))
        app.append(_sample(APP, env))
    result = {
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
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--no-request", action="store_true", help="measure the import only")
    args = parser.parse_args()
    result = measure(args.samples, first_request=not args.no_request)
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
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cold_start.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
