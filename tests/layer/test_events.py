import json

import pytest
from ecs_imaging import events
from ecs_imaging.errors import InvalidInput

SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
OTHER = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"


def _notification(trace, kind="Notification"):
    return {
        "type": kind,
        "message_id": "m1",
        "topic_urn": "urn:smn:eu-de:p:t",
        "message": json.dumps(trace),
        "timestamp": "2026-12-04T09:45:00Z",
    }


def _trace(**changes):
    trace = {
        "trace_id": "t1",
        "trace_name": "stopServer",
        "trace_rating": "normal",
        "service_type": "ECS",
        "resource_type": "ecs",
        "resource_id": SERVER,
        "time": 1764841500123,
        "some_future_field": {"x": 1},
    }
    trace.update(changes)
    return {key: value for key, value in trace.items() if value is not None}


def test_a_successful_stop_starts_one_run_per_server():
    trace = events.trace_from_notification(_notification(_trace()))

    assert [i["server_id"] for i in events.pipeline_inputs_for_trace(trace)] == [SERVER]


def test_a_batch_stop_starts_one_run_each():
    trace = events.trace_from_notification(_notification(_trace(resource_id=f"{SERVER},{OTHER}")))

    assert [i["server_id"] for i in events.pipeline_inputs_for_trace(trace)] == [SERVER, OTHER]


@pytest.mark.parametrize(
    "changes",
    [{"trace_name": "startServer"}, {"trace_rating": "warning"}, {"service_type": "EVS"}],
)
def test_other_traces_start_nothing(changes):
    trace = events.trace_from_notification(_notification(_trace(**changes)))

    assert events.pipeline_inputs_for_trace(trace) == []


def test_a_trace_missing_optional_fields_is_accepted():
    trace = events.trace_from_notification(
        _notification(_trace(trace_rating=None, service_type=None, time=None))
    )

    assert events.pipeline_inputs_for_trace(trace)[0]["server_id"] == SERVER


def test_a_trace_wrapped_in_an_object_is_accepted():
    trace = events.trace_from_notification(_notification({"trace": _trace()}))

    assert trace.trace_id == "t1"


def test_a_server_id_that_is_not_a_uuid_is_named():
    trace = events.trace_from_notification(_notification(_trace(resource_id="web-01")))

    with pytest.raises(InvalidInput, match="'web-01'"):
        events.pipeline_inputs_for_trace(trace)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_notification(_trace(), kind="SubscriptionConfirmation"), "SubscriptionConfirmation"),
        ({**_notification(_trace()), "message": "not json"}, "does not carry a JSON trace"),
        ({**_notification(_trace()), "message_id": None}, "message_id"),
        (_notification({"trace_name": "stopServer"}), "trace_id is required"),
    ],
)
def test_malformed_notifications_are_named(body, named):
    with pytest.raises(InvalidInput, match=named):
        events.trace_from_notification(body)


def test_a_resource_id_list_names_each_server_once():
    trace = events.trace_from_notification(
        _notification(_trace(resource_id=[SERVER, OTHER, SERVER]))
    )

    assert trace.server_ids == [SERVER, OTHER]


@pytest.mark.parametrize("changes", [{"code": "500"}, {"resource_type": "server"}])
def test_a_failed_stop_or_another_resource_starts_nothing(changes):
    trace = events.trace_from_notification(_notification(_trace(**changes)))

    assert events.pipeline_inputs_for_trace(trace) == []


def test_a_trace_given_as_json_text_is_read():
    trace = events.trace_from_document(json.dumps(_trace()))

    assert trace.server_ids == [SERVER]
