import logging

import httpx
import pytest
from ecs_imaging import config, http
from ecs_imaging.errors import (
    CloudRequestNotSent,
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


def test_send_waits_as_long_as_retry_after_says(respx_mock, monkeypatch):
    waits = []
    monkeypatch.setattr(http.time, "sleep", waits.append)
    monkeypatch.setattr(http, "BACKOFF_CAP_SECONDS", 8.0)
    respx_mock.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.5"}, json={"error_code": "APIGW.0308"}),
            httpx.Response(200, json={}),
        ]
    )

    http.send("GET", URL)

    assert waits == [0.5]


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
