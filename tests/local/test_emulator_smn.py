"""The emulator's SMN: its certificate over HTTPS on 127.0.0.1, its CA, its signatures."""

import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from ecs_imaging import webhook
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support import smn


def _client(emu: Emulator, *, trusting_its_ca: bool = True) -> httpx.Client:
    cafile = emu.smn.ca_bundle if trusting_its_ca else None
    verify = ssl.create_default_context(cafile=cafile)

    return httpx.Client(verify=verify, trust_env=False)


def _served_certificate(emu: Emulator) -> x509.Certificate:
    with _client(emu) as client:
        response = client.get(emu.smn.certificate_url)

    assert response.status_code == 200
    return x509.load_pem_x509_certificate(response.content)


def test_smn_serves_its_signing_certificate_over_https_on_127_0_0_1(emu: Emulator) -> None:
    certificate = _served_certificate(emu)

    url = httpx.URL(emu.smn.certificate_url)
    assert (url.scheme, url.host) == ("https", "127.0.0.1")
    assert url.path.startswith("/smn/") and url.path.endswith(".pem")
    assert emu.smn.certificate_host == f"127.0.0.1:{url.port}"
    assert certificate.public_key() == emu.smn.signer.key.public_key()
    assert emu.counters["smn.signing_cert"] == 1


def test_smn_certificate_host_fails_tls_checks_without_its_ca(emu: Emulator) -> None:
    with (
        _client(emu, trusting_its_ca=False) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(emu.smn.certificate_url)

    assert emu.counters["smn.signing_cert"] == 0


def test_smn_certificate_host_answers_404_for_any_other_path(emu: Emulator) -> None:
    with _client(emu) as client:
        response = client.get(emu.smn.certificate_url.replace(".pem", "-other.pem"))

    assert response.status_code == 404
    assert emu.counters["smn.signing_cert"] == 0


def test_smn_writes_only_its_ca_certificate_and_removes_it_at_stop() -> None:
    with Emulator(seed=7) as emulator:
        bundle = Path(emulator.smn.ca_bundle)
        files = sorted(path.name for path in bundle.parent.iterdir())
        pem = bundle.read_bytes()

    authority = x509.load_pem_x509_certificate(pem)
    assert files == ["ca.pem"]
    assert b"PRIVATE KEY" not in pem
    assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not bundle.parent.exists()


def test_smn_makes_a_new_ca_at_each_start() -> None:
    with Emulator(seed=7) as first:
        first_ca = Path(first.smn.ca_bundle).read_bytes()
    with Emulator(seed=7) as second:
        second_ca = Path(second.smn.ca_bundle).read_bytes()

    assert first_ca != second_ca


@pytest.mark.parametrize("subject", ["CTS key event notification", None])
def test_smn_publish_signs_a_notification_the_webhook_verifies(
    emu: Emulator, subject: str | None
) -> None:
    trace = json.dumps(smn.trace())

    message = emu.smn.publish(trace, subject)

    public_key = _served_certificate(emu).public_key()
    assert message["type"] == "Notification"
    assert message["topic_urn"] == f"urn:smn:eu-de:{PROJECT_ID}:ecs-stop-events"
    assert message["signing_cert_url"] == emu.smn.certificate_url
    assert message.get("subject") == subject
    assert (message["message"], len(message["message_id"])) == (trace, 32)
    assert webhook.verify_signature(message, public_key)
    assert not webhook.verify_signature({**message, "message": trace + " "}, public_key)


def test_smn_stamps_the_emulated_time(emu: Emulator) -> None:
    emu.clock.advance(3 * 3600)

    message = emu.smn.publish("{}")

    sent = datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(sent - emu.clock.now()) < timedelta(seconds=2)
    assert sent - datetime.now(UTC) > timedelta(hours=2)
