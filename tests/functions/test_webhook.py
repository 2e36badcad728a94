"""The webhook handler against moto: the pipeline state machine and table of the template."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import respx
from ecs_imaging import auth, config, http, webhook
from ecs_imaging_local import deliveries
from ecs_imaging_local import template as sam
from ecs_imaging_local.emulator import Emulator
from ecs_imaging_local.engine import LocalEngine
from ecs_imaging_local.environment import (
    configured,
    emulator_environment,
    webhook_environment,
)
from ecs_imaging_local.moto_adapter import LambdaContext
from moto import mock_aws
from support import smn
from support.smn import CERT_URL, OTHER_SERVER, SERVER, TOKEN, TOPIC

from functions.webhook import app

REGION = sam.REGION
PIPELINE = "ImagePipelineStateMachine"


@dataclass
class Aws:
    """moto's Step Functions and DynamoDB, holding the template's pipeline and table."""

    state_machine_arn: str

    def executions(self) -> list[dict[str, Any]]:
        client = boto3.client("stepfunctions", region_name=REGION)
        listed = client.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

        return [
            {
                **e,
                "input": json.loads(
                    client.describe_execution(executionArn=e["executionArn"])["input"]
                ),
            }
            for e in listed
        ]

    def records(self) -> list[dict[str, Any]]:
        table = boto3.resource("dynamodb", region_name=REGION).Table("RunStateTable")

        return table.scan()["Items"]


@pytest.fixture(scope="module")
def signer():
    return smn.new_signer()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    variables = {
        "AWS_DEFAULT_REGION": REGION,
        config.REGION: "eu-de",
        webhook.TOPIC_URNS: TOPIC,
        webhook.CERTIFICATE_HOSTS: smn.CERT_HOST,
        webhook.EVENTGRID_TOKEN: TOKEN,
        webhook.PIPELINE_USER_NAMES: smn.PIPELINE_USER,
        webhook.RUN_STATE_TABLE: "RunStateTable",
        "POWERTOOLS_SERVICE_NAME": "ecs-imaging",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    _forget()
    yield
    _forget()


def _forget() -> None:
    config.reset_settings()
    http.close_client()
    webhook.reset_webhook_settings()
    webhook.forget_signing_keys()
    app._build_start.cache_clear()
    app._stepfunctions.cache_clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The template's pipeline and table in moto; executions are recorded, not run."""
    template = sam.load_template()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table in sam.tables(template).values():
            dynamodb.create_table(**table)
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        created = stepfunctions.create_state_machine(
            name=PIPELINE,
            definition=sam.state_machine(template, PIPELINE).definition,
            roleArn=f"arn:aws:iam::{sam.ACCOUNT_ID}:role/test",
            type="STANDARD",
        )
        monkeypatch.setenv(config.PIPELINE_STATE_MACHINE_ARN, created["stateMachineArn"])
        yield Aws(created["stateMachineArn"])


@pytest.fixture
def smn_host(signer) -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(CERT_URL, name="certificate").mock(
            return_value=httpx.Response(200, content=signer.pem)
        )
        yield router


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(
        "WebhookFunction", f"arn:aws:lambda:{REGION}:{sam.ACCOUNT_ID}:function:w"
    )
    response = app.lambda_handler(event, context)

    return {"status": response["statusCode"], **json.loads(response["body"])}


def _deliver(body: Any, **options: Any) -> dict[str, Any]:
    return _invoke(smn.function_url_event(body, **options))


def test_notification_starts_one_pipeline_execution(aws, smn_host, signer):
    answer = _deliver(signer.sign(smn.notification()))

    [execution] = aws.executions()
    assert (answer["status"], answer["result"]) == (200, "started")
    assert answer["executions"] == [execution["name"]]
    assert execution["input"] == {
        "server_id": SERVER,
        "stop_policy": "require-stopped",
        "trigger": {"kind": "event", "id": smn.trace()["trace_id"]},
    }


def test_duplicate_delivery_starts_nothing_new(aws, smn_host, signer):
    message = signer.sign(smn.notification())

    first = _deliver(message)
    second = _deliver(message)

    assert (first["result"], second["result"]) == ("started", "duplicate")
    assert second["status"] == 200
    assert len(aws.executions()) == 1


def test_same_trace_in_another_message_starts_nothing_new(aws, smn_host, signer):
    _deliver(signer.sign(smn.notification(message_id="a" * 32)))
    again = _deliver(signer.sign(smn.notification(message_id="b" * 32)))

    assert again["result"] == "duplicate"
    assert len(aws.executions()) == 1


def test_lost_idempotency_record_still_starts_no_second_run(aws, smn_host, signer):
    message = signer.sign(smn.notification())
    _deliver(message)
    table = boto3.resource("dynamodb", region_name=REGION).Table("RunStateTable")
    for record in aws.records():
        table.delete_item(Key={"id": record["id"]})
    # A finished run: Step Functions refuses its name with ExecutionAlreadyExists.
    [execution] = aws.executions()
    boto3.client("stepfunctions", region_name=REGION).stop_execution(
        executionArn=execution["executionArn"]
    )

    again = _deliver(message)

    assert (again["status"], again["result"]) == (200, "duplicate")
    assert len(aws.executions()) == 1


def test_batch_stop_starts_one_execution_per_server(aws, smn_host, signer):
    batch = smn.trace(resource_id=f"{SERVER},{OTHER_SERVER}")

    _deliver(signer.sign(smn.notification(batch)))

    servers = sorted(e["input"]["server_id"] for e in aws.executions())
    assert servers == sorted([SERVER, OTHER_SERVER])


def test_eventgrid_then_smn_for_one_trace_start_one_execution(aws, smn_host, signer):
    _deliver(smn.cloud_event(), path=webhook.EVENTGRID_PATH, query={"token": TOKEN})
    answer = _deliver(signer.sign(smn.notification()))

    assert answer["result"] == "duplicate"
    assert len(aws.executions()) == 1


def test_pipelines_own_stop_starts_nothing(aws, smn_host, signer):
    own = smn.trace(user={"name": smn.PIPELINE_USER})

    answer = _deliver(signer.sign(smn.notification(own)))

    assert (answer["status"], answer["result"]) == (200, "ignored")
    assert aws.executions() == []


def test_forged_delivery_is_refused_and_leaves_no_record(aws, smn_host):
    answer = _deliver(smn.new_signer().sign(smn.notification()))

    assert answer["status"] == 403
    assert aws.executions() == []
    assert aws.records() == []


def test_eventgrid_with_a_wrong_token_is_refused(aws):
    answer = _deliver(smn.cloud_event(), path=webhook.EVENTGRID_PATH, query={"token": "x" * 40})

    assert answer["status"] == 403
    assert aws.executions() == []


def test_start_failure_asks_for_a_retry_and_a_retry_starts_the_run(
    aws, smn_host, signer, monkeypatch
):
    message = signer.sign(smn.notification())
    monkeypatch.setenv(config.PIPELINE_STATE_MACHINE_ARN, aws.state_machine_arn + "-gone")
    failed = _deliver(message)
    monkeypatch.setenv(config.PIPELINE_STATE_MACHINE_ARN, aws.state_machine_arn)

    retried = _deliver(message)

    assert failed["status"] == 503
    assert retried["result"] == "started"
    assert len(aws.executions()) == 1


def test_missing_start_settings_answer_500(aws, smn_host, signer, monkeypatch):
    monkeypatch.delenv(webhook.RUN_STATE_TABLE)

    answer = _deliver(signer.sign(smn.notification()))

    assert answer["status"] == 500
    assert aws.executions() == []


@pytest.mark.parametrize(
    ("event", "status", "named"),
    [
        (smn.function_url_event("x" * (webhook.MAX_BODY_BYTES + 1)), 413, "is over"),
        (smn.function_url_event("{oops"), 400, "not JSON"),
        (
            smn.function_url_event("{}", headers={"content-type": "multipart/form-data"}),
            415,
            "not JSON",
        ),
    ],
)
def test_bad_request_is_answered_with_its_problem(aws, event, status, named):
    answer = _invoke(event)

    assert answer["status"] == status
    assert named in answer["detail"]


def test_each_delivery_logs_one_line(aws, smn_host, signer, caplog):
    _deliver(signer.sign(smn.notification()))

    [line] = [r for r in caplog.records if r.getMessage() == "Delivery answered"]
    assert (line.trace_id, line.result) == (smn.trace()["trace_id"], "started")


@pytest.fixture
def emulated_smn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose SMN the webhook trusts: its topic, certificate host and CA."""
    with Emulator(time_scale=1.0, seed=7) as emulator:
        for name, value in webhook_environment(emulator).items():
            monkeypatch.setenv(name, value)
        _forget()
        yield emulator


def test_emulated_smn_notification_is_checked_over_https_and_starts_a_run(aws, emulated_smn):
    published = emulated_smn.smn.publish(json.dumps(smn.trace()))

    answer = _invoke(deliveries.smn_request(published))

    [execution] = aws.executions()
    assert (answer["status"], answer["result"]) == (200, "started")
    assert execution["input"]["server_id"] == SERVER
    assert emulated_smn.counters["smn.signing_cert"] == 1


def test_tampered_emulated_smn_notification_starts_nothing(aws, emulated_smn):
    published = emulated_smn.smn.publish(json.dumps(smn.trace()))
    tampered = {**published, "message": json.dumps(smn.trace(resource_id=OTHER_SERVER))}

    answer = _invoke(deliveries.smn_request(tampered))

    assert (answer["status"], answer["result"]) == (403, "refused")
    assert "signature does not match" in answer["detail"]
    assert aws.executions() == []
    assert aws.records() == []


def test_without_the_ca_bundle_the_certificate_fetch_fails_and_nothing_starts(
    aws, emulated_smn, monkeypatch
):
    monkeypatch.delenv(config.CA_BUNDLE)
    _forget()
    published = emulated_smn.smn.publish(json.dumps(smn.trace()))

    answer = _invoke(deliveries.smn_request(published))

    # A 5xx: SMN delivers again later, when the host may be trusted.
    assert (answer["status"], answer["result"]) == (503, "unavailable")
    assert "'127.0.0.1': ConnectError" in answer["detail"]
    assert emulated_smn.counters["smn.signing_cert"] == 0
    assert aws.executions() == []
    assert aws.records() == []


def test_emulated_smn_notification_images_the_stopped_server_on_the_local_engine():
    # Slow enough that a busy machine does not push the run past its deadline.
    time_scale = 0.01
    with (
        Emulator(time_scale=time_scale, seed=7) as emulator,
        configured({**emulator_environment(emulator), **webhook_environment(emulator)}, emulator),
        LocalEngine(time_scale=time_scale) as engine,
    ):
        auth.token_cache.clear()
        published = emulator.smn.publish(json.dumps(smn.trace()))
        answer = deliveries.deliver(deliveries.smn_request(published))
        [name] = answer["executions"]
        arn = engine.state_machine_arn().replace(":stateMachine:", ":execution:")
        result = engine.wait(f"{arn}:{name}")

        assert result.status == "SUCCEEDED"
        assert result.output["outcome"] == "IMAGED"
        [image] = emulator.images()
        assert f"ecs-imaging-server={SERVER}" in image.tags
        assert emulator.counters["smn.signing_cert"] == 1
