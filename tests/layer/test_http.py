import logging
import os

import httpx
import pytest
from ecs_imaging import config, http
from ecs_imaging.errors import (
    CloudRequestNotSent,
    CloudThrottled,
    CloudTransientError,
    ConfigurationError,
    InvalidRequest,
)

URL = "https://ims.eu-de.otc.t-systems.com/v2/cloudimages"


def test_send_retries_a_get_on_5xx_then_returns_the_answer(respx_mock):
    route = respx_mock.get(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"images": []})]
    )

    response = http.send("GET", URL)

    assert response.json() == {"images": []}
    assert route.call_count == 2


def test_send_gives_up_after_the_last_attempt(respx_mock):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(502))

    with pytest.raises(CloudTransientError):
        http.send("GET", URL)

    assert route.call_count == http.MAX_ATTEMPTS


def test_send_never_repeats_a_post_that_may_have_been_accepted(respx_mock):
    route = respx_mock.post(URL).mock(return_value=httpx.Response(500))

    with pytest.raises(CloudTransientError):
        http.send("POST", URL, json={})

    assert route.call_count == 1


def test_send_repeats_a_post_that_never_left(respx_mock):
    route = respx_mock.post(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"job_id": "j"})]
    )

    assert http.send("POST", URL, json={}).json() == {"job_id": "j"}
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("no connection free"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_send_reports_a_request_that_never_left(respx_mock, failure):
    respx_mock.get(URL).mock(side_effect=failure)

    with pytest.raises(CloudRequestNotSent, match=type(failure).__name__):
        http.send("GET", URL)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("timed out"), httpx.PoolTimeout("no connection free")],
    ids=lambda failure: type(failure).__name__,
)
def test_send_repeats_a_post_that_timed_out_before_it_left(respx_mock, failure):
    route = respx_mock.post(URL).mock(
        side_effect=[failure, httpx.Response(200, json={"job_id": "j"})]
    )

    assert http.send("POST", URL, json={}).json() == {"job_id": "j"}
    assert route.call_count == 2


def test_send_never_repeats_a_post_whose_answer_timed_out(respx_mock):
    route = respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(CloudTransientError) as raised:
        http.send("POST", URL, json={})

    assert not isinstance(raised.value, CloudRequestNotSent)
    assert route.call_count == 1


def test_send_does_not_retry_a_client_error(respx_mock):
    route = respx_mock.get(URL).mock(
        return_value=httpx.Response(400, json={"error": {"code": "IMG.0001", "message": "m"}})
    )

    with pytest.raises(InvalidRequest):
        http.send("GET", URL)

    assert route.call_count == 1


def test_send_logs_one_info_line_per_request_without_secrets(respx_mock, caplog):
    respx_mock.get(URL).mock(
        return_value=httpx.Response(200, json={}, headers={"X-Request-Id": "req-9"})
    )

    with caplog.at_level(logging.DEBUG, logger="ecs_imaging"):
        http.send("GET", URL, headers={"X-Auth-Token": "MIIsecret-token"})

    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert (record.http_method, record.http_path, record.http_status) == (
        "GET",
        "/v2/cloudimages",
        200,
    )
    assert record.request_id == "req-9"
    assert record.elapsed_ms >= 0
    assert "MIIsecret-token" not in repr(record.__dict__)


@pytest.fixture
def waits(monkeypatch):
    """The seconds `send` slept, in order; nothing really sleeps."""
    slept = []
    monkeypatch.setattr(http.time, "sleep", slept.append)
    monkeypatch.setattr(http, "BACKOFF_BASE_SECONDS", 0.5)
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 8.0)

    return slept


def _throttled(retry_after):
    body = {"error_code": "APIGW.0308", "error_msg": "over ratelimit"}

    return httpx.Response(429, headers={"Retry-After": retry_after}, json=body)


@pytest.mark.parametrize("retry_after", ["0", "0.5", "8"])
def test_send_waits_as_long_as_a_small_retry_after_says(respx_mock, waits, retry_after):
    route = respx_mock.get(URL).mock(
        side_effect=[_throttled(retry_after), httpx.Response(200, json={})]
    )

    http.send("GET", URL)

    assert waits == [float(retry_after)]
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_throttled("30"), CloudThrottled),
        (httpx.Response(503, headers={"Retry-After": "120"}), CloudTransientError),
    ],
)
def test_send_leaves_a_long_retry_after_to_the_state_machine(respx_mock, waits, answer, error):
    route = respx_mock.get(URL).mock(return_value=answer)

    with pytest.raises(error) as raised:
        http.send("GET", URL)

    assert raised.value.retry_after == float(answer.headers["Retry-After"])
    assert route.call_count == 1
    assert waits == []


def test_send_backs_off_longer_with_each_attempt_up_to_the_cap(respx_mock, waits, monkeypatch):
    monkeypatch.setattr(http, "MAX_ATTEMPTS", 7)
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 3.0)
    monkeypatch.setattr(http.random, "uniform", lambda low, high: high)
    respx_mock.get(URL).mock(return_value=httpx.Response(503))

    with pytest.raises(CloudTransientError):
        http.send("GET", URL)

    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_send_jitters_each_backoff_below_its_ceiling(respx_mock, waits, monkeypatch):
    monkeypatch.setattr(http, "MAX_ATTEMPTS", 41)
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 3.0)
    respx_mock.get(URL).mock(return_value=httpx.Response(503))

    with pytest.raises(CloudTransientError):
        http.send("GET", URL)

    ceilings = [min(3.0, 0.5 * 2**attempt) for attempt in range(40)]
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert len(set(waits)) > 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")],
    ids=lambda failure: type(failure).__name__,
)
def test_send_tries_a_get_that_fails_in_transit_exactly_max_attempts_times(respx_mock, failure):
    route = respx_mock.get(URL).mock(side_effect=failure)

    with pytest.raises(CloudTransientError):
        http.send("GET", URL)

    assert route.call_count == http.MAX_ATTEMPTS == 3


def test_send_retries_a_get_after_a_read_timeout_and_a_connection_error(respx_mock):
    route = respx_mock.get(URL).mock(
        side_effect=[
            httpx.ReadTimeout("timed out"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"images": []}),
        ]
    )

    assert http.send("GET", URL).json() == {"images": []}
    assert route.call_count == 3


def test_get_client_trusts_the_ca_bundle_for_tls(emulator, monkeypatch):
    monkeypatch.setenv(config.CA_BUNDLE, emulator.smn.ca_bundle)

    response = http.get_client().get(emulator.smn.certificate_url)

    assert response.status_code == 200
    assert emulator.counters["smn.signing_cert"] == 1


def test_get_client_without_a_ca_bundle_refuses_an_unknown_ca(emulator):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get_client().get(emulator.smn.certificate_url)

    assert emulator.counters["smn.signing_cert"] == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read: No such file or directory"),
        (b"", "holds no PEM certificate"),
        (b"not a certificate\n", "holds no PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "PEM"),
    ],
)
def test_get_client_names_the_variable_and_the_path_of_a_bad_ca_bundle(
    tmp_path, monkeypatch, content, problem
):
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv(config.CA_BUNDLE, str(bundle))

    with pytest.raises(ConfigurationError) as raised:
        http.get_client()

    assert str(raised.value).startswith(f"ECS_IMAGING_CA_BUNDLE names {str(bundle)!r}")
    assert problem in str(raised.value)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_get_client_refuses_a_ca_bundle_that_is_no_regular_file_without_blocking(
    tmp_path, monkeypatch, kind
):
    bundle = tmp_path / "bundle.pem"
    if kind == "fifo":
        os.mkfifo(bundle)
    else:
        bundle.mkdir()
    monkeypatch.setenv(config.CA_BUNDLE, str(bundle))

    with pytest.raises(ConfigurationError, match="which is not a regular file"):
        http.get_client()
