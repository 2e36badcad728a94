"""What runs leave behind, captured: their logs at DEBUG, their run events, secrets in both.

The handlers' Powertools loggers write JSON lines to stdout; the library and every
other logger use the standard logging tree. `captured_logs` takes both at DEBUG for
the length of a block, so that `find_secrets` can look for every credential the
emulator handed out in everything the product wrote.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from ecs_imaging import observability

from .emulator import Emulator

EVENT_SOURCE = "ecs-imaging"
# The attributes every LogRecord has; anything else came in through `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))
_LIBRARY_LOGGER = "ecs_imaging"


@dataclass
class LogCapture:
    """The text of every log line written while the capture was on."""

    json_lines: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    debug_records: int = 0

    def texts(self) -> Iterator[tuple[str, str]]:
        """(source, text) pairs: the stdout JSON lines, then the log records."""
        yield from (("stdout log", line) for line in self.json_lines)
        yield from (("log record", record) for record in self.records)


class _RecordingHandler(logging.Handler):
    """Keeps each record as text: its message, arguments, extra keys and traceback."""

    def __init__(self, capture: LogCapture) -> None:
        super().__init__(logging.DEBUG)
        self._capture = capture
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = repr(record.msg)
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
        parts = [record.name, message, json.dumps(extra, default=repr), repr(record.args)]
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))

        self._capture.records.append("\n".join(parts))
        if record.levelno == logging.DEBUG and record.name.startswith(_LIBRARY_LOGGER):
            self._capture.debug_records += 1


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Capture every log line at DEBUG, the root logger's included, while the block runs."""
    capture = LogCapture()
    stdout = io.StringIO()
    recorder = _RecordingHandler(capture)
    root = logging.getLogger()
    # The handlers' Powertools logger and the library's write their own JSON lines.
    writers = [logging.getLogger(observability.logger.name), logging.getLogger(_LIBRARY_LOGGER)]
    recorded = [root, *(logger for logger in writers if not logger.propagate)]
    saved_levels = [(logger, logger.level) for logger in [root, *writers]]
    saved_streams = [
        (handler, handler.setStream(stdout))
        for handler in _stream_handlers(h for logger in writers for h in logger.handlers)
    ]

    # The root logger's own handlers (a test runner's, say) keep to INFO: the DEBUG
    # lines of every library are for the scan, not for a failed test's report.
    saved_handler_levels = [(handler, handler.level) for handler in root.handlers]

    for handler, level in saved_handler_levels:
        handler.setLevel(max(level, logging.INFO))
    for logger in recorded:
        logger.addHandler(recorder)
    for logger, _ in saved_levels:
        logger.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(stdout):
            yield capture
    finally:
        for logger in recorded:
            logger.removeHandler(recorder)
        for logger, level in saved_levels:
            logger.setLevel(level)
        for handler, level in saved_handler_levels:
            handler.setLevel(level)
        for handler, stream in saved_streams:
            handler.setStream(stream)
        capture.json_lines.extend(stdout.getvalue().splitlines())


def _stream_handlers(handlers: Iterable[logging.Handler]) -> list[logging.StreamHandler[Any]]:
    """The handlers that write Powertools JSON lines (not, say, pytest's own)."""
    unique = {id(handler): handler for handler in handlers}

    return [
        handler
        for handler in unique.values()
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, BasePowertoolsFormatter)
    ]


@dataclass(frozen=True)
class Secret:
    """A credential the emulator handed out; its value is never shown."""

    kind: str
    value: str = field(repr=False)


def emulator_secrets(emulator: Emulator, *extra: Secret) -> list[Secret]:
    """The password, the access key pair and every token the emulator issued so far."""
    credentials = emulator.credentials
    found = [
        Secret("password", credentials.password),
        Secret("access key", credentials.access_key),
        Secret("secret key", credentials.secret_key),
        *(Secret("token", token) for token in emulator.issued_tokens),
        *extra,
    ]

    return [secret for secret in found if secret.value]


@dataclass
class SecretScan:
    """Where secrets were found, and how much text was looked at."""

    findings: list[str] = field(default_factory=list)
    scanned_bytes: dict[str, int] = field(default_factory=dict)

    def add(self, source: str, text: str, secrets: Iterable[Secret]) -> None:
        """Look for each secret in one text of a source (a log line, a history)."""
        self.scanned_bytes[source] = self.scanned_bytes.get(source, 0) + len(text)
        for secret in secrets:
            if secret.value in text:
                self.findings.append(f"{secret.kind} in {source}")


def find_secrets(texts: Iterable[tuple[str, str]], secrets: Iterable[Secret]) -> SecretScan:
    """Scan (source, text) pairs for every secret."""
    secrets = list(secrets)
    scan = SecretScan()
    for source, text in texts:
        scan.add(source, text, secrets)

    return scan


class RunEvents:
    """The run events EventBridge delivers, caught by a rule that feeds an SQS queue."""

    def __init__(self, region: str) -> None:
        self._sqs = boto3.client("sqs", region_name=region)
        self._events = boto3.client("events", region_name=region)
        self._queue_url = ""
        self.received: list[dict[str, Any]] = []

    def subscribe(self) -> RunEvents:
        """Create the queue and the rule; needs a running moto mock."""
        self._queue_url = self._sqs.create_queue(QueueName="reliability-run-events")["QueueUrl"]
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["QueueArn"]
        )
        pattern = json.dumps({"source": [EVENT_SOURCE]})
        self._events.put_rule(Name="reliability-run-events", EventPattern=pattern)
        target = {"Id": "queue", "Arn": attributes["Attributes"]["QueueArn"]}
        self._events.put_targets(Rule="reliability-run-events", Targets=[target])

        return self

    def drain(self) -> list[dict[str, Any]]:
        """Every event delivered so far, oldest first."""
        while True:
            answer = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return self.received
            for message in messages:
                self.received.append(json.loads(message["Body"]))
                self._sqs.delete_message(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
