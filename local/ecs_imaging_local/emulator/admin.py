"""The emulator's own calls, on every listener and without authentication.

- ``POST /_emulator/faults`` with ``{"fault": name, **arguments}``: add a fault
  (the names and arguments of :class:`~.faults.Faults`); 204.
- ``DELETE /_emulator/faults``: drop the faults that have not fired; 204.
- ``GET /_emulator/counters``: the counters, as ``Emulator.counters`` has them.
"""

from __future__ import annotations

from . import faults
from .wire import Call, Reply, flat_error, route


def add_fault(call: Call) -> Reply:
    """POST /_emulator/faults: add one fault."""
    try:
        faults.apply(call.state, call.body)
    except ValueError as exc:
        raise flat_error(400, "EMULATOR.0001", str(exc)) from exc

    return Reply(204, None)


def clear_faults(call: Call) -> Reply:
    """DELETE /_emulator/faults: drop every fault still waiting."""
    faults.Faults(call.state).clear()

    return Reply(204, None)


def show_counters(call: Call) -> Reply:
    """GET /_emulator/counters: calls per operation and answers per status."""
    return Reply(200, dict(call.state.counters))


ROUTES = (
    route("POST", "/_emulator/faults", None, add_fault, auth=False),
    route("DELETE", "/_emulator/faults", None, clear_faults, auth=False),
    route("GET", "/_emulator/counters", None, show_counters, auth=False),
)
