import base64
import json
from datetime import timedelta

import httpx
import pytest
import respx
from ecs_imaging import clock, webhook
from ecs_imaging.errors import ConfigurationError
from support import smn
from support.smn import CERT_URL, SERVER, SUBSCRIBE_URL, TOKEN, TOPIC


@pytest.fixture(scope="module")
def signer():
    return smn.new_signer()


@pytest.fixture(autouse=True)
def fresh_webhook():
    webhook.forget_signing_keys()
    webhook.reset_webhook_settings()
    yield
    webhook.forget_signing_keys()
    webhook.reset_webhook_settings()


@pytest.fixture
def smn_hosts(signer):
    """The SMN certificate host and the console; every other request fails the test."""
    with respx.mock(assert_all_called=False) as router:
        router.get(CERT_URL, name="certificate").mock(
            return_value=httpx.Response(200, content=signer.pem)
        )
        router.get(url__startswith=SUBSCRIBE_URL.split("?")[0], name="confirm").mock(
            return_value=httpx.Response(200, text="<html>confirmed</html>")
        )
        yield router


def _deliver(body, settings=None, **options):
    return webhook.receive(smn.function_url_event(body, **options), settings or smn.settings())


def _detail(reply):
    return json.loads(reply.response()["body"])["detail"]


def test_canonical_string_of_a_notification_is_its_signed_keys_in_order():
    message = {
        "type": "Notification",
        "message_id": "m1",
        "topic_urn": "urn:smn:eu-de:p:t",
        "subject": "s",
        "message": "hello",
        "timestamp": "2026-12-04T09:45:00Z",
        "signature": "ignored",
        "signing_cert_url": "ignored",
        "unsubscribe_url": "ignored",
    }

    assert webhook.canonical_string(message) == (
        b"message\nhello\nmessage_id\nm1\nsubject\ns\ntimestamp\n2026-12-04T09:45:00Z\n"
        b"topic_urn\nurn:smn:eu-de:p:t\ntype\nNotification\n"
    )


def test_canonical_string_of_a_subscription_signs_its_subscribe_url():
    message = smn.subscription(message="hi", timestamp="t", subscribe_url="https://c/x")

    assert (
        webhook.canonical_string(message)
        == (
            f"message\nhi\nmessage_id\n{message['message_id']}\nsubscribe_url\nhttps://c/x\n"
            f"timestamp\nt\ntopic_urn\n{TOPIC}\ntype\nSubscriptionConfirmation\n"
        ).encode()
    )


def test_notification_with_valid_signature_starts_one_run(signer, smn_hosts):
    reply = _deliver(signer.sign(smn.notification()))

    assert (reply.status, reply.result) == (200, "accepted")
    [run] = reply.runs
    assert run.input == {
        "server_id": SERVER,
        "stop_policy": "require-stopped",
        "trigger": {"kind": "event", "id": smn.trace()["trace_id"]},
    }
    assert run.name == webhook.execution_name(smn.trace()["trace_id"], SERVER)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message", json.dumps(smn.trace(resource_id=smn.OTHER_SERVER))),
        ("message_id", "6f0c7a1e2b3d4c5e8f9a0b1c2d3e4f51"),
        ("subject", "Another subject"),
        ("timestamp", "2026-12-04T09:45:01Z"),
        ("topic_urn", smn.SECOND_TOPIC),
        ("type", "UnsubscribeConfirmation"),
    ],
)
def test_notification_tampered_in_a_signed_field_is_refused(signer, smn_hosts, field, value):
    tampered = {**signer.sign(smn.notification()), field: value, "subscribe_url": SUBSCRIBE_URL}

    reply = _deliver(tampered)

    assert (reply.status, reply.runs) == (403, ())


def test_notification_signed_by_another_key_is_refused(smn_hosts):
    reply = _deliver(smn.new_signer().sign(smn.notification()))

    assert reply.status == 403
    assert "signature does not match" in _detail(reply)


def test_unsigned_notification_is_refused_without_fetching(smn_hosts):
    reply = _deliver(smn.notification())

    assert reply.status == 403
    assert smn_hosts["certificate"].call_count == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://smn.eu-de.example.com/smn/SMN_eu-de_1.pem",
        "http://smn.eu-de.otc.t-systems.com/smn/SMN_eu-de_1.pem",
        "https://smn.eu-de.otc.t-systems.com@evil.example.com/smn/SMN_eu-de_1.pem",
        "https://smn.eu-de.otc.t-systems.com:8443/smn/SMN_eu-de_1.pem",
        "https://smn.eu-de.otc.t-systems.com.evil.example.com/smn/SMN_eu-de_1.pem",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_certificate_url_off_the_allow_list_is_refused_without_fetching(signer, url):
    # No route at all: any request would fail the test.
    with respx.mock() as router:
        reply = _deliver(signer.sign(smn.notification(signing_cert_url=url)))

    assert reply.status == 403
    assert "signing_cert_url" in _detail(reply)
    assert router.calls.call_count == 0


def test_certificate_is_fetched_once_for_many_messages(signer, smn_hosts):
    for message_id in ("m1", "m2", "m3"):
        reply = _deliver(signer.sign(smn.notification(message_id=message_id)))
        assert reply.status == 200

    assert smn_hosts["certificate"].call_count == 1


@pytest.mark.parametrize(("answer", "status"), [(404, 403), (500, 503), (429, 503)])
def test_certificate_host_error_maps_to_refusal_or_retry(signer, answer, status):
    with respx.mock() as router:
        router.get(CERT_URL).mock(return_value=httpx.Response(answer))
        reply = _deliver(signer.sign(smn.notification()))

    assert reply.status == status


def test_certificate_host_unreachable_asks_for_a_retry(signer):
    with respx.mock() as router:
        router.get(CERT_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))
        reply = _deliver(signer.sign(smn.notification()))

    assert reply.status == 503


def test_certificate_url_that_holds_no_certificate_is_refused(signer):
    with respx.mock() as router:
        router.get(CERT_URL).mock(return_value=httpx.Response(200, text="<html></html>"))
        reply = _deliver(signer.sign(smn.notification()))

    assert reply.status == 403


@pytest.mark.parametrize(
    ("subject", "with_empty_subject"),
    [
        ("CTS key event notification", False),
        (None, False),
        ("", False),
        ("", True),
    ],
)
def test_subject_present_absent_or_empty_verifies(signer, smn_hosts, subject, with_empty_subject):
    message = smn.notification(subject=subject)

    reply = _deliver(signer.sign(message, with_empty_subject=with_empty_subject))

    assert reply.status == 200


def test_subject_null_verifies_as_absent(signer, smn_hosts):
    signed = signer.sign(smn.notification(subject=None))

    reply = _deliver({**signed, "subject": None})

    assert reply.status == 200


@pytest.mark.parametrize("field", ["type", "message_id", "topic_urn", "message", "timestamp"])
def test_missing_envelope_field_is_named(signer, field):
    message = signer.sign(smn.notification())
    del message[field]

    with respx.mock() as router:
        reply = _deliver(message)

    assert reply.status == 400
    assert field in _detail(reply)
    assert router.calls.call_count == 0


def test_signature_that_is_not_base64_is_refused(signer, smn_hosts):
    message = {**signer.sign(smn.notification()), "signature": "not base64!"}

    reply = _deliver(message)

    assert reply.status == 403


def test_unsubscribe_confirmation_without_subscribe_url_is_named(signer):
    message = signer.sign(smn.subscription("UnsubscribeConfirmation"))
    del message["subscribe_url"]

    with respx.mock() as router:
        reply = _deliver(message)

    assert reply.status == 400
    assert "subscribe_url" in _detail(reply)
    assert router.calls.call_count == 0


def test_subscription_confirmation_gets_the_subscribe_url(signer, smn_hosts):
    reply = _deliver(signer.sign(smn.subscription()))

    assert (reply.status, reply.result) == (200, "confirmed")
    [call] = smn_hosts["confirm"].calls
    assert str(call.request.url) == SUBSCRIBE_URL


def test_subscription_confirmation_on_another_host_is_refused_without_any_fetch(signer):
    message = smn.subscription(subscribe_url="https://console.example.com/smn/confirm?token=1")

    with respx.mock() as router:
        reply = _deliver(signer.sign(message))

    assert reply.status == 403
    assert "subscribe_url" in _detail(reply)
    assert router.calls.call_count == 0


def test_subscription_confirmation_over_plain_http_is_refused(signer):
    message = smn.subscription(subscribe_url=SUBSCRIBE_URL.replace("https:", "http:"))

    with respx.mock() as router:
        reply = _deliver(signer.sign(message))

    assert reply.status == 403
    assert router.calls.call_count == 0


def test_subscription_confirmation_with_a_bad_signature_is_not_confirmed(smn_hosts):
    reply = _deliver(smn.new_signer().sign(smn.subscription()))

    assert reply.status == 403
    assert smn_hosts["confirm"].call_count == 0


@pytest.mark.parametrize(("answer", "status"), [(500, 503), (403, 422)])
def test_subscription_confirmation_refused_by_smn_is_reported(signer, smn_hosts, answer, status):
    smn_hosts["confirm"].mock(return_value=httpx.Response(answer))

    reply = _deliver(signer.sign(smn.subscription()))

    assert reply.status == status


def test_unsubscribe_confirmation_is_verified_and_fetches_nothing_else(signer, smn_hosts):
    reply = _deliver(signer.sign(smn.subscription("UnsubscribeConfirmation")))

    assert (reply.status, reply.result) == (200, "unsubscribed")
    assert smn_hosts["confirm"].call_count == 0


@pytest.mark.parametrize(
    "topic",
    [
        "urn:smn:eu-de:0a1b2c3d4e5f60718293a4b5c6d7e8f9:somebody-elses-topic",
        "urn:smn:eu-de:ffffffffffffffffffffffffffffffff:ecs-stop-events",
    ],
)
@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation"])
def test_foreign_topic_or_project_is_refused_without_any_fetch(signer, topic, kind):
    message = smn.notification() if kind == "Notification" else smn.subscription()
    message["topic_urn"] = topic

    with respx.mock() as router:
        reply = _deliver(signer.sign(message))

    assert reply.status == 403
    assert router.calls.call_count == 0


def test_topic_header_that_disagrees_with_the_body_is_refused(signer, smn_hosts):
    headers = {"X-SMN-TOPIC-URN": smn.SECOND_TOPIC}

    reply = _deliver(signer.sign(smn.notification()), headers=headers)

    assert reply.status == 403
    assert smn_hosts["certificate"].call_count == 0


def test_batch_stop_starts_one_run_per_server(signer, smn_hosts):
    batch = smn.trace(resource_id=f"{SERVER},{smn.OTHER_SERVER.upper()}")

    reply = _deliver(signer.sign(smn.notification(batch)))

    assert [run.input["server_id"] for run in reply.runs] == [SERVER, smn.OTHER_SERVER]
    assert len({run.name for run in reply.runs}) == 2


def test_batch_stop_without_resource_id_takes_the_servers_from_the_request(signer, smn_hosts):
    request = {"os-stop": {"type": "SOFT", "servers": [{"id": SERVER}, {"id": smn.OTHER_SERVER}]}}
    batch = smn.trace(resource_id="", request=json.dumps(request))

    reply = _deliver(signer.sign(smn.notification(batch)))

    assert [run.input["server_id"] for run in reply.runs] == [SERVER, smn.OTHER_SERVER]


@pytest.mark.parametrize(
    "changes",
    [
        {"trace_name": "startServer"},
        {"trace_rating": "warning"},
        {"trace_rating": "incident"},
        {"code": "409"},
        {"service_type": "EVS"},
        {"resource_type": "server"},
    ],
)
def test_other_and_failed_traces_are_answered_and_ignored(signer, smn_hosts, changes):
    reply = _deliver(signer.sign(smn.notification(smn.trace(**changes))))

    assert (reply.status, reply.result, reply.runs) == (200, "ignored", ())


@pytest.mark.parametrize(
    "user",
    [
        {"name": smn.PIPELINE_USER, "id": "0f0f"},
        {"name": smn.PIPELINE_USER.upper()},
        {"name": "someone", "id": smn.PIPELINE_USER_ID},
    ],
)
def test_the_pipelines_own_stop_starts_nothing(signer, smn_hosts, user):
    reply = _deliver(signer.sign(smn.notification(smn.trace(user=user))))

    assert (reply.status, reply.result, reply.runs) == (200, "ignored", ())
    assert "pipeline's own" in _detail(reply)


@pytest.mark.parametrize(
    "body",
    ["Server web-01 was stopped.", json.dumps({"trace_name": "stopServer"}), "[]"],
)
def test_signed_message_that_is_no_trace_is_ignored(signer, smn_hosts, body):
    reply = _deliver(signer.sign(smn.notification(body)))

    assert (reply.status, reply.result) == (200, "ignored")


def test_trace_with_odd_optional_fields_still_starts_its_run(signer, smn_hosts):
    odd = smn.trace(user="ops-user", time="2016/12/08 11:07:28 GMT+08:00", code=200, extra=[1])

    reply = _deliver(signer.sign(smn.notification(odd)))

    assert [run.input["server_id"] for run in reply.runs] == [SERVER]


def test_trace_naming_no_server_id_is_ignored(signer, smn_hosts):
    reply = _deliver(signer.sign(smn.notification(smn.trace(resource_id="web-01"))))

    assert (reply.status, reply.result) == (200, "ignored")
    assert reply.log_keys["skipped_ids"] == ["web-01"]


def test_message_first_sent_over_48_hours_ago_is_ignored(signer, smn_hosts):
    sent = clock.to_timestamp(clock.now() - timedelta(hours=49))

    reply = _deliver(signer.sign(smn.notification(timestamp=sent)))

    assert (reply.status, reply.result) == (200, "ignored")


def test_message_retried_a_day_later_still_starts_its_run(signer, smn_hosts):
    sent = clock.to_timestamp(clock.now() - timedelta(hours=24))

    reply = _deliver(signer.sign(smn.notification(timestamp=sent)))

    assert reply.result == "accepted"


def test_eventgrid_delivery_with_the_token_starts_the_run():
    event = smn.function_url_event(
        smn.cloud_event(), path=webhook.EVENTGRID_PATH, query={"token": TOKEN}
    )

    reply = webhook.receive(event, smn.settings())

    assert [run.input["server_id"] for run in reply.runs] == [SERVER]


def test_eventgrid_and_smn_name_the_same_run_for_one_trace(signer, smn_hosts):
    event = smn.function_url_event(
        smn.cloud_event(), path=webhook.EVENTGRID_PATH, query={"token": TOKEN}
    )

    from_eventgrid = webhook.receive(event, smn.settings())
    from_smn = _deliver(signer.sign(smn.notification()))

    assert from_eventgrid.runs == from_smn.runs
    assert from_eventgrid.key == from_smn.key


@pytest.mark.parametrize(
    ("query", "settings"),
    [
        ({"token": TOKEN[:-1] + "x"}, smn.settings()),
        ({"token": ""}, smn.settings()),
        ({}, smn.settings()),
        ({"token": TOKEN}, smn.settings(eventgrid_token=None)),
    ],
)
def test_eventgrid_delivery_without_the_right_token_is_refused(query, settings):
    event = smn.function_url_event(smn.cloud_event(), path=webhook.EVENTGRID_PATH, query=query)

    reply = webhook.receive(event, settings)

    assert (reply.status, reply.runs) == (403, ())


def test_eventgrid_token_is_checked_before_the_body_is_read():
    event = smn.function_url_event("{not json", path=webhook.EVENTGRID_PATH)

    reply = webhook.receive(event, smn.settings())

    assert reply.status == 403


def test_eventgrid_event_of_another_source_is_ignored():
    event = smn.function_url_event(
        smn.cloud_event(source="HC.OBS"), path=webhook.EVENTGRID_PATH, query={"token": TOKEN}
    )

    reply = webhook.receive(event, smn.settings())

    assert (reply.status, reply.result) == (200, "ignored")


def test_eventgrid_event_with_its_trace_as_text_is_read():
    event = smn.function_url_event(
        smn.cloud_event(data=json.dumps(smn.trace())),
        path=webhook.EVENTGRID_PATH,
        query={"token": TOKEN},
    )

    reply = webhook.receive(event, smn.settings())

    assert len(reply.runs) == 1


@pytest.mark.parametrize("encoded", [False, True])
def test_body_over_64_kib_is_too_large(encoded):
    body = json.dumps({"pad": "x" * webhook.MAX_BODY_BYTES})
    event = smn.function_url_event(body)
    if encoded:
        event.update(body=base64.b64encode(body.encode()).decode(), isBase64Encoded=True)

    with respx.mock() as router:
        reply = webhook.receive(event, smn.settings())

    assert reply.status == 413
    assert router.calls.call_count == 0


def test_base64_body_is_decoded(signer, smn_hosts):
    event = smn.function_url_event(signer.sign(smn.notification()))
    event.update(body=base64.b64encode(event["body"].encode()).decode(), isBase64Encoded=True)

    reply = webhook.receive(event, smn.settings())

    assert reply.status == 200


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"type": "Notification",', "not JSON"),
        ("[1, 2]", "an array, not a JSON object"),
        ("[" * 5000 + "]" * 5000, "nests"),
        ("", "not JSON"),
    ],
)
def test_body_that_is_no_json_object_is_named(body, named):
    reply = _deliver(body)

    assert reply.status == 400
    assert named in _detail(reply)


def test_form_content_type_is_unsupported():
    reply = _deliver(
        smn.notification(), headers={"content-type": "application/x-www-form-urlencoded"}
    )

    assert reply.status == 415
    assert "application/x-www-form-urlencoded" in _detail(reply)


@pytest.mark.parametrize("content_type", ["text/plain; charset=UTF-8", "application/json"])
def test_json_and_plain_text_content_types_are_read(signer, smn_hosts, content_type):
    reply = _deliver(signer.sign(smn.notification()), headers={"content-type": content_type})

    assert reply.status == 200


def test_get_request_is_not_allowed():
    reply = _deliver("", method="GET")

    assert reply.status == 405


def test_unknown_path_names_the_routes():
    reply = _deliver(smn.notification(), path="/")

    assert reply.status == 404
    assert "/smn" in _detail(reply)


def test_execution_name_is_deterministic_short_and_plain():
    name = webhook.execution_name("trace:with/odd#chars " * 10, SERVER)

    assert name == webhook.execution_name("trace:with/odd#chars " * 10, SERVER)
    assert len(name) <= 80
    assert name.replace("-", "").isalnum()
    assert name != webhook.execution_name("trace:with/odd#chars " * 10, smn.OTHER_SERVER)


def test_settings_default_to_the_clouds_smn_and_console_hosts():
    settings = webhook.load_webhook_settings(
        {"ECS_IMAGING_REGION": "eu-nl", webhook.TOPIC_URNS: TOPIC.replace("eu-de", "eu-nl")}
    )

    assert settings.certificate_hosts == {"smn.eu-nl.otc.t-systems.com"}
    assert settings.subscribe_hosts == {"console.otc.t-systems.com"}


def test_settings_read_lists_of_hosts_and_users():
    settings = webhook.load_webhook_settings(
        {
            "ECS_IMAGING_REGION": "eu-de",
            webhook.CERTIFICATE_HOSTS: "smn.eu-de.otc.t-systems.com, 127.0.0.1:8443",
            webhook.PIPELINE_USER_NAMES: "ECS-Imaging,robot",
        }
    )

    assert settings.certificate_hosts == {"smn.eu-de.otc.t-systems.com", "127.0.0.1:8443"}
    assert settings.pipeline_user_names == {"ecs-imaging", "robot"}


def test_settings_refuse_a_topic_of_another_project():
    environ = {
        "ECS_IMAGING_REGION": "eu-de",
        "ECS_IMAGING_PROJECT_ID": "f" * 32,
        webhook.TOPIC_URNS: TOPIC,
    }

    with pytest.raises(ConfigurationError, match="ECS_IMAGING_PROJECT_ID"):
        webhook.load_webhook_settings(environ)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (webhook.TOPIC_URNS, "arn:aws:sns:eu-central-1:1:topic"),
        (webhook.CERTIFICATE_HOSTS, "https://smn.eu-de.otc.t-systems.com/smn"),
    ],
)
def test_settings_name_a_bad_value(name, value):
    with pytest.raises(ConfigurationError, match=name):
        webhook.load_webhook_settings({"ECS_IMAGING_REGION": "eu-de", name: value})


def test_settings_refuse_a_short_token_without_echoing_it():
    environ = {"ECS_IMAGING_REGION": "eu-de", webhook.EVENTGRID_TOKEN: "short-secret"}

    with pytest.raises(ConfigurationError) as raised:
        webhook.load_webhook_settings(environ)

    assert "short-secret" not in str(raised.value)
