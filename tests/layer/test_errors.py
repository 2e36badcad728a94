import json

import pytest
from ecs_imaging import errors


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "IMG.0008", errors.ServerNotStopped),
        (400, "IMG.0010", errors.ServerBusy),
        (400, "Ecs.0100", errors.ServerBusy),
        (400, "IMG.0015", errors.QuotaExceeded),
        (400, "IMG.0005", errors.ResourceNotFound),
        (404, "Ecs.0114", errors.ResourceNotFound),
        (400, "IMG.0060", errors.CloudThrottled),
        (429, "APIGW.0308", errors.CloudThrottled),
        (429, "Common.1503", errors.CloudThrottled),
        (401, "APIGW.0301", errors.CloudAuthError),
        (401, "IAM.0062", errors.CloudAuthError),
        (400, "IMG.0003", errors.InvalidRequest),
        (503, "SYS.503", errors.CloudTransientError),
    ],
)
def test_error_from_response_maps_documented_codes(status, code, expected):
    body = json.dumps({"error": {"code": code, "message": "m"}}).encode()

    error = errors.error_from_response(status, body, "req-1")

    assert type(error) is expected
    assert error.error_code == code
    assert error.request_id == "req-1"


@pytest.mark.parametrize(
    "body",
    [
        {"error_code": "APIGW.0308", "error_msg": "limit"},
        {"errorCode": "APIGW.0308", "errorMsg": "limit"},
        {"error": {"code": "APIGW.0308", "message": "limit"}},
        {"outer": {"error": {"code": "APIGW.0308", "message": "limit"}}},
    ],
)
def test_error_from_response_reads_every_body_shape(body):
    error = errors.error_from_response(429, json.dumps(body).encode(), None)

    assert error.error_code == "APIGW.0308"
    assert "limit" in str(error)


def test_error_from_response_keeps_the_cloud_message():
    body = b'{"error": {"code": "IMG.0003", "message": "The image name is invalid."}}'

    error = errors.error_from_response(400, body, None)

    assert "The image name is invalid." in str(error)
    assert "HTTP 400" in str(error)


def test_error_from_response_handles_a_body_that_is_not_json():
    error = errors.error_from_response(502, b"<html>Bad Gateway</html>", "r")

    assert type(error) is errors.CloudTransientError
    assert error.error_code is None
    assert "Bad Gateway" in str(error)


def test_the_clouds_answer_is_read_back_from_the_error_message():
    body = b'{"error": {"code": "IMG.0060", "message": "Too many requests (try later)."}}'
    error = errors.error_from_response(400, body, "9f3c2a")

    answer = errors.cloud_answer(f"Before creating the image: {error}")

    assert answer == {
        "message": "Before creating the image: Too many requests (try later).",
        "http_status": 400,
        "error_code": "IMG.0060",
        "request_id": "9f3c2a",
    }


def test_an_answer_without_code_or_request_id_reads_back_as_none():
    error = errors.error_from_response(503, b"gateway down", None)

    answer = errors.cloud_answer(str(error))

    assert (answer["http_status"], answer["error_code"], answer["request_id"]) == (503, None, None)


def test_a_message_of_another_shape_is_all_message():
    answer = errors.cloud_answer("Could not connect to 'ims.eu-de.otc.t-systems.com'")

    assert answer["message"] == "Could not connect to 'ims.eu-de.otc.t-systems.com'"
    assert answer["error_code"] is None
