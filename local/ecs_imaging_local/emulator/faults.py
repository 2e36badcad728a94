"""Faults on demand: misbehaving calls, image jobs and servers.

The same names work from Python (``emulator.faults.throttle("ims", count=2)``) and
over HTTP on every listener (``POST /_emulator/faults`` with
``{"fault": "throttle", "scope": "ims", "count": 2}``). A call fault's scope is an
operation (a counter name such as ``ims.create_image``) or a whole service.
"""

from __future__ import annotations

import inspect
from http import HTTPStatus
from typing import Any

from .state import CallFault, Fault, ServerJobFault, State
from .wire import ApiError, flat_error, nested_error

THROTTLE_CODES = {"iam": "APIGW.0308", "ecs": "Common.1503", "ims": "IMG.0060"}
GATEWAY_THROTTLE = "APIGW.0308"
ERROR_STATUSES = (500, 502, 503, 504)
# Call faults answered in the service's place: the call does nothing.
REFUSALS = ("throttle", "error", "reject")
SERVER_JOB_ACTIONS = ("stop", "start")
MAX_DELAY_SECONDS = 60.0
# The fault names the admin endpoint accepts: the public methods of Faults.
NAMES = (
    "throttle",
    "fail_calls",
    "reject_calls",
    "slow_calls",
    "drop_connection",
    "fail_next_image_job",
    "stick_next_image_job",
    "hide_next_sub_job_results",
    "fail_next_server_job",
    "ignore_soft_stop",
    "delete_server",
    "start_server",
    "revoke_tokens",
    "require_stopped",
    "clear",
)


class Faults:
    """Misbehaviour on demand; call faults match in the order they were added."""

    def __init__(self, state: State) -> None:
        self._state = state

    def throttle(
        self,
        scope: str,
        *,
        count: int | None = 1,
        rate: float | None = None,
        retry_after: int | None = None,
        code: str | None = None,
    ) -> None:
        """Throttle the next ``count`` calls (None: all), or with ``rate``, a seeded
        share of the calls until ``count`` of them are throttled.

        The answer is the service's own: 429 APIGW.0308 for IAM, 429 Common.1503 for
        ECS, 400 IMG.0060 for IMS; ``code="APIGW.0308"`` picks the gateway's 429.
        """
        service = self._check_scope(scope)
        own = THROTTLE_CODES[service]
        code = code or own
        if code not in (own, GATEWAY_THROTTLE):
            allowed = f"{own!r} or {GATEWAY_THROTTLE!r}"
            raise ValueError(f"The code of {service} throttles is {allowed}, not {code!r}.")
        if retry_after is not None and not _is_count(retry_after, minimum=0):
            raise ValueError(
                f"The retry_after is whole seconds (Retry-After), not {retry_after!r}."
            )

        remaining, fraction = _check_count(count), _check_rate(rate)
        fault = CallFault(
            scope, "throttle", remaining, fraction, code=code, retry_after=retry_after
        )
        self._add(fault)

    def fail_calls(
        self,
        scope: str,
        *,
        status: int = 503,
        count: int | None = 1,
    ) -> None:
        """Answer the next ``count`` calls (None: all) with a 5xx from the gateway."""
        self._check_scope(scope)
        if not _is_count(status, minimum=500) or status not in ERROR_STATUSES:
            raise ValueError(f"The status is one of {ERROR_STATUSES}, not {status!r}.")

        self._add(CallFault(scope, "error", _check_count(count), status=status))

    def reject_calls(
        self,
        scope: str,
        *,
        code: str,
        status: int = 400,
        message: str = "The request is invalid.",
        count: int | None = 1,
    ) -> None:
        """Answer the next ``count`` calls (None: all) with a 4xx and a cloud error code.

        The body has the service's own shape: ``{"error": {"code", "message"}}`` from
        ECS and IMS, ``{"error_code", "error_msg"}`` from IAM and for APIGW codes.
        """
        self._check_scope(scope)
        if not _is_count(status, minimum=400) or status >= 500:
            raise ValueError(f"The status is a 4xx, not {status!r}.")
        _check_text("code", code)
        _check_text("message", message)

        fault = CallFault(
            scope, "reject", _check_count(count), status=status, code=code, message=message
        )
        self._add(fault)

    def slow_calls(self, scope: str, seconds: float, *, count: int | None = 1) -> None:
        """Hold back the answers to the next ``count`` calls by ``seconds`` (real)."""
        self._check_scope(scope)
        valid = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not valid or not 0 < seconds <= MAX_DELAY_SECONDS:
            limit = MAX_DELAY_SECONDS
            raise ValueError(f"The delay in seconds is over 0 to {limit}, not {seconds!r}.")

        self._add(CallFault(scope, "slow", _check_count(count), seconds=float(seconds)))

    def drop_connection(
        self,
        scope: str = "ims.create_image",
        *,
        count: int | None = 1,
    ) -> None:
        """Carry out the next ``count`` calls, then close the socket unanswered."""
        self._check_scope(scope)
        self._add(CallFault(scope, "drop", _check_count(count)))

    def fail_next_image_job(
        self,
        error_code: str = "IMG.0006",
        fail_reason: str = "The ECS system disk cannot be used.",
    ) -> None:
        """Make the next IMS job end FAIL with this code and reason, and no image."""
        _check_text("error_code", error_code)
        _check_text("fail_reason", fail_reason)

        self._queue(Fault("fail", error_code, fail_reason))

    def stick_next_image_job(self) -> None:
        """Make the next IMS job stay RUNNING for good."""
        self._queue(Fault("stick"))

    def hide_next_sub_job_results(self) -> None:
        """Make the next data-disk image job succeed with empty ``sub_jobs_result``."""
        self._queue(Fault("no_sub_jobs"))

    def fail_next_server_job(
        self,
        error_code: str = "Ecs.0611",
        fail_reason: str = "The batch operation failed.",
        *,
        action: str | None = None,
    ) -> None:
        """Make the next ECS stop or start job (or the next of ``action``) end FAIL.

        Its servers stay as they were; the job fails when they would have settled.
        """
        _check_text("error_code", error_code)
        _check_text("fail_reason", fail_reason)
        if action is not None and action not in SERVER_JOB_ACTIONS:
            raise ValueError(f"The action is 'stop', 'start' or None, not {action!r}.")

        fault = ServerJobFault(error_code, fail_reason, action)
        with self._state.lock:
            self._state.server_job_faults.append(fault)

    def ignore_soft_stop(self, server_id: str, enabled: bool = True) -> None:
        """Make a server's guest ignore SOFT stops (it stays ACTIVE), or heed them again.

        A HARD stop still stops it.
        """
        _check_flag("enabled", enabled)
        with self._state.lock:
            self._check_server(server_id)
            if enabled:
                self._state.soft_stop_ignored.add(server_id)
            else:
                self._state.soft_stop_ignored.discard(server_id)

    def delete_server(self, server_id: str, *, at_next_image_job: bool = False) -> None:
        """Delete a server now, or right after its next image job is accepted."""
        self._change_server(server_id, "delete", at_next_image_job)

    def start_server(self, server_id: str, *, at_next_image_job: bool = False) -> None:
        """Start a server as its owner would: now, or as its next image job starts."""
        self._change_server(server_id, "start", at_next_image_job)

    def revoke_tokens(self) -> None:
        """Make every token issued so far get 401 from now on."""
        with self._state.lock:
            for token in self._state.tokens.values():
                token.revoked = True

    def require_stopped(self, enabled: bool = True) -> None:
        """Make imaging a server that is not SHUTOFF get 400 IMG.0008, or not."""
        _check_flag("enabled", enabled)
        with self._state.lock:
            self._state.require_stopped = enabled

    def clear(self) -> None:
        """Drop every call, job and server fault that has not fired yet; guests heed
        SOFT stops again."""
        with self._state.lock:
            self._state.call_faults.clear()
            self._state.pending_faults.clear()
            self._state.server_job_faults.clear()
            self._state.server_faults.clear()
            self._state.soft_stop_ignored.clear()

    def _check_scope(self, scope: str) -> str:
        known = isinstance(scope, str) and (
            scope in THROTTLE_CODES or scope in self._state.operations
        )
        if not known:
            raise ValueError(f"The scope is a service or an operation, not {scope!r}.")

        return scope.partition(".")[0]

    def _check_server(self, server_id: str) -> None:
        if not isinstance(server_id, str) or server_id not in self._state.servers:
            raise ValueError(f"The server_id names no server: {server_id!r}.")

    def _add(self, fault: CallFault) -> None:
        with self._state.lock:
            self._state.call_faults.append(fault)

    def _queue(self, fault: Fault) -> None:
        with self._state.lock:
            self._state.pending_faults.append(fault)

    def _change_server(self, server_id: str, action: str, later: bool) -> None:
        _check_flag("at_next_image_job", later)
        with self._state.lock:
            self._check_server(server_id)
            if later:
                self._state.server_faults.append((server_id, action))
            elif action == "delete":
                self._state.remove_server(server_id)
            else:
                self._state.start_server(server_id, self._state.settle())


def apply(state: State, request: dict[str, Any]) -> None:
    """Add the fault an admin request names: ``{"fault": name, **arguments}``."""
    arguments = dict(request)
    name = arguments.pop("fault", None)
    if name not in NAMES:
        raise ValueError(f"The fault is one of {', '.join(NAMES)}, not {name!r}.")
    add = getattr(Faults(state), name)
    accepted = inspect.signature(add).parameters
    for argument, value in arguments.items():
        if argument not in accepted:
            message = f"The fault {name!r} has no argument {argument!r} (given {value!r})."
            raise ValueError(message)

    try:
        add(**arguments)
    except TypeError as exc:
        raise ValueError(f"The arguments of {name!r} are wrong: {exc}") from exc


def take_call_fault(state: State, operation: str) -> CallFault | None:
    """The fault this call meets, if any; it counts against the fault's calls."""
    service = operation.partition(".")[0]
    for fault in state.call_faults:
        if fault.scope not in (operation, service):
            continue
        if fault.rate < 1 and state.fault_rng.random() >= fault.rate:
            continue

        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                state.call_faults.remove(fault)
        return fault

    return None


def rejection(fault: CallFault) -> ApiError:
    """The answer of a throttled, failed or rejected call, as the cloud gives it."""
    if fault.kind == "error":
        # No 5xx body is documented: the gateway's flat shape with the reason phrase.
        return flat_error(fault.status, "APIGW.0000", HTTPStatus(fault.status).phrase)
    if fault.kind == "reject":
        # Reference 4.1: IAM and the gateway answer flat, ECS and IMS nested.
        service = fault.scope.partition(".")[0]
        flat = service == "iam" or fault.code.startswith("APIGW.")
        shape = flat_error if flat else nested_error
        return shape(fault.status, fault.code, fault.message)

    if fault.code == GATEWAY_THROTTLE:
        message = "The throttling threshold has been reached: user over ratelimit"
        error = flat_error(429, fault.code, message)
    elif fault.code == "Common.1503":
        message = "Api flow control Error because of throttling"
        error = nested_error(429, fault.code, message)
    else:
        message = "Task count exceeds the flow-control limit."
        error = nested_error(400, fault.code, message)
    if fault.retry_after is not None:
        error.headers["Retry-After"] = str(fault.retry_after)

    return error


def _check_count(count: int | None) -> int | None:
    if count is not None and not _is_count(count, minimum=1):
        raise ValueError(f"The count is a whole number of calls, not {count!r}.")

    return count


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} is a non-empty string, not {value!r}.")


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name!r} is true or false, not {value!r}.")


def _check_rate(rate: float | None) -> float:
    if rate is None:
        return 1.0
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise ValueError(f"The rate is a fraction above 0 up to 1, not {rate!r}.")

    return float(rate)


def _is_count(value: object, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
