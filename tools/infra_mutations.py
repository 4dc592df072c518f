"""Remove one setting of infra/ at a time and check that the infrastructure test guarding it fails.

    infra/.venv/bin/python -m tools.infra_mutations            # every mutation (about 40 minutes)
    infra/.venv/bin/python -m tools.infra_mutations alias tracing

Each entry replaces one piece of ``infra/`` (once), runs the named tests of ``tests/infra`` with
``-x``, restores the file and reports whether they failed, as they must: a test that still passes
with its setting removed guards nothing. Exit status 1 if any mutation survives or no longer applies
(the code it names changed: update the entry). Not part of ``make infra``: each mutation
synthesises the stack again.
"""

from __future__ import annotations

import subprocess  # nosec B404
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, file, text to replace, replacement, pytest -k expression)
MUTATIONS: list[tuple[str, str, str, str, str]] = [
    (
        "runtime",
        "infra/stack.py",
        '        resource.add_property_override("Runtime", TARGET.runtime)\n',
        "",
        "test_every_function_runs_python312",
    ),
    (
        "stage throttling",
        "infra/stack.py",
        '        api.add_property_override("MethodSettings", settings)\n',
        "",
        "test_stage_throttling",
    ),
    (
        "public throttling",
        "infra/stack.py",
        '"ThrottlingRateLimit": edge.public_rate_per_second,',
        '"ThrottlingRateLimit": edge.rate_per_second,',
        "test_stage_throttling",
    ),
    (
        "access logs",
        "infra/stack.py",
        '        api.add_property_override(\n            "AccessLogSetting",',
        '        (lambda *a: None)(\n            "AccessLogSetting",',
        "test_access_logs",
    ),
    (
        "gateway responses",
        "infra/stack.py",
        '        api.add_property_override("GatewayResponses", sam_gateway_responses())\n',
        "",
        "test_gateway_responses",
    ),
    (
        "greedy parameter",
        "infra/stack.py",
        '                api.add_property_override(\n                    f"DefinitionBody.paths.{path}',
        '                (lambda *a: None)(\n                    f"DefinitionBody.paths.{path}',
        "test_gateway_responses",
    ),
    (
        "alarm actions",
        "infra/stack.py",
        "        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))\n",
        "",
        "test_every_alarm_reaches_the_topic",
    ),
    (
        "function throttle alarm",
        "infra/stack.py",
        'metric=fn_metric("Throttles", "Sum"),',
        'metric=fn_metric("Errors", "Sum"),',
        "test_alarms_cover",
    ),
    (
        "ses alarm",
        "infra/stack.py",
        '("Reputation.ComplaintRate", "ses-complaint-rate", settings.ses_complaint_rate, "0.1 %"),',
        "",
        "test_alarms_cover",
    ),
    ("queue age alarm", "infra/stack.py", "threshold=age * 60,", "threshold=age,", "test_alarms_cover"),
    (
        "max concurrency",
        "infra/stack.py",
        '            resource.add_property_override(f"{properties}.ScalingConfig.MaximumConcurrency", concurrency)\n',
        "",
        "test_every_sqs_poller",
    ),
    (
        "alias",
        "infra/stack.py",
        '            resource.add_property_override("AutoPublishAlias", LIVE_ALIAS)\n',
        "",
        "test_the_send_worker_is_deployed_gradually",
    ),
    (
        "deployment preference alarms",
        "infra/stack.py",
        '"Alarms": [alarm.alarm_name for alarm in self.function_alarms[function_name]],',
        '"Alarms": [],',
        "test_the_send_worker_is_deployed_gradually",
    ),
    (
        "schedule dlq",
        "infra/stack.py",
        '                f"{properties}.DeadLetterConfig", {"Arn": cdk.Fn.sub(self.names.queue_arn(SCHEDULES_DLQ))}',
        '                f"{properties}.Unused", {"Arn": cdk.Fn.sub(self.names.queue_arn(SCHEDULES_DLQ))}',
        "test_every_schedule_has_a_dead_letter_target",
    ),
    (
        "schedule on-failure",
        "infra/stack.py",
        '"OnFailure": {"Type": "SQS", "Destination": self.schedules_dead_letter.queue_arn}',
        '"OnSuccess": {"Type": "SQS", "Destination": self.schedules_dead_letter.queue_arn}',
        "test_every_schedule_has_a_dead_letter_target",
    ),
    (
        "email subscription",
        "infra/monitoring.py",
        "        topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))\n",
        "        pass\n",
        "test_every_alarm_reaches_the_topic",
    ),
    (
        "tracing",
        "infra/stack.py",
        '            resource.add_property_override("Tracing", "Active")\n',
        "            pass\n",
        "test_tracing",
    ),
    (
        "logging role dependency",
        "infra/stack.py",
        "            api.add_resource_dependency(account)\n",
        "            pass\n",
        "test_access_logs",
    ),
    (
        "architecture",
        "infra/stack.py",
        '        resource.add_property_override("Architectures", [TARGET.architecture])\n',
        "",
        "test_every_function_runs_python312",
    ),
    (
        "table throttle alarm",
        "infra/stack.py",
        '"writes": table_metric("WriteThrottleEvents"),',
        '"writes": table_metric("ReadThrottleEvents"),',
        "test_alarms_cover",
    ),
    (
        "dashboard metric",
        "infra/monitoring.py",
        '("EmailsSent", "SendThrottled",',
        '("EmailsDelivered", "EmailsSent", "SendThrottled",',
        "test_the_dashboard_shows_only",
    ),
    (
        "waf switch",
        "infra/stack.py",
        "        if edge.waf:\n            self._waf()",
        "        if False:\n            self._waf()",
        "test_waf_is_off",
    ),
    (
        "deploy-check subscriber",
        "infra/deploy_check.py",
        "    if not config.alarm_subscribers:\n",
        "    if False:\n",
        "test_the_default_config_is_refused or test_cdk_synthesis",
    ),
    (
        "deploy-check sandbox",
        "infra/deploy_check.py",
        "        if config.production and not facts.ses_production:",
        "        if False:",
        "test_ses_sandbox",
    ),
    (
        "deploy-check reservation",
        "infra/deploy_check.py",
        "        if reserved and reserved > available:",
        "        if False:",
        "test_a_reservation_the_new",
    ),
]


def run(name: str, file: str, old: str, new: str, tests: str) -> str:
    path = ROOT / file
    original = path.read_text()
    if old not in original:
        return "NOT APPLICABLE (update the entry)"
    test_file = (
        "tests/infra/test_deploy_check.py"
        if "deploy_check" in file
        else "tests/infra/test_production_ready.py"
    )
    path.write_text(original.replace(old, new, 1))
    try:
        result = subprocess.run(  # nosec B603
            [sys.executable, "-m", "pytest", test_file, "-q", "-x", "-p", "no:cacheprovider", "-k", tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.write_text(original)
    last = next((line for line in reversed(result.stdout.splitlines()) if line.strip()), "")
    return ("fails, as it must" if result.returncode != 0 else "SURVIVES") + f": {last}"


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])
    bad = 0
    for name, file, old, new, tests in MUTATIONS:
        if only and name not in only:
            continue
        verdict = run(name, file, old, new, tests)
        bad += not verdict.startswith("fails")
        print(f"{name}: {verdict}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
