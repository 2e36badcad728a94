"""Image names from templates, and the tags an image gets within IMS's budget of 10."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .models import MAX_TAGS_PER_IMAGE, TAG_KEY_MAX, TAG_VALUE_MAX

# The pipeline's own tags, always first in the budget (at most 3 by design).
RUN_TAG = "ecs-imaging-run"
SERVER_TAG = "ecs-imaging-server"
NAME_MAX = 128

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._ -]+")
_VARIABLE = re.compile(r"\{([a-z_]+)\}")


def run_id_for(execution_id: str, started_at: str = "") -> str:
    """A short stable id of a run, derived from its execution id and start time.

    Step Functions lets a name be used again 90 days after its execution ended, so
    the ARN alone does not tell two runs apart; its start time does.
    """
    return hashlib.sha256(f"{execution_id}\n{started_at}".encode()).hexdigest()[:32]


def name_variables(
    *, server_name: str, server_id: str, moment: datetime, trigger: str
) -> dict[str, str]:
    """The values a name template or a tag value may use."""
    return {
        "server_name": server_name,
        "server_id": server_id,
        "date": moment.strftime("%Y%m%d"),
        "time": moment.strftime("%H%M%S"),
        "trigger": trigger,
    }


def render(template: str, variables: Mapping[str, str]) -> str:
    """Fill `{variable}` fields; the template was checked to use known ones only."""
    return _VARIABLE.sub(lambda match: variables.get(match.group(1), match.group(0)), template)


def image_name(template: str, variables: Mapping[str, str], *, suffix: str = "") -> str:
    """A name IMS accepts, whatever the server is called: 1-128 characters of letters,
    digits, `-`, `.`, `_` and space, neither starting nor ending with a space."""
    text = _NOT_ALLOWED.sub("-", render(template, variables))
    text = re.sub(r"-{2,}", "-", text).strip(" ")
    if not text.strip(" -"):
        text = f"image-{variables['date']}-{variables['time']}"

    return with_suffix(text, suffix)


def with_suffix(name: str, suffix: str) -> str:
    """`name` shortened as needed so that `name + suffix` fits IMS's 128 characters."""
    return name[: NAME_MAX - len(suffix)].rstrip(" ") + suffix


def pipeline_tags(run_id: str, server_id: str) -> dict[str, str]:
    """The tags that mark an image as this pipeline's, made by one run for one server."""
    return {RUN_TAG: run_id, SERVER_TAG: server_id}


@dataclass
class TagBudget:
    """The tags an image gets, and those left out with the reason why."""

    tags: dict[str, str] = field(default_factory=dict)
    dropped: list[dict[str, str]] = field(default_factory=list)

    def offer(self, key: str, value: str, source: str) -> None:
        """Take a tag if it fits the rules and the budget, or record why not."""
        key, value = key.strip(), value.strip()
        reason = None
        if not 1 <= len(key) <= TAG_KEY_MAX:
            reason = f"key is not 1 to {TAG_KEY_MAX} characters"
        elif len(value) > TAG_VALUE_MAX:
            reason = f"value is longer than {TAG_VALUE_MAX} characters"
        elif key in self.tags:
            reason = "key already set by an earlier source"
        elif len(self.tags) >= MAX_TAGS_PER_IMAGE:
            reason = f"IMS allows {MAX_TAGS_PER_IMAGE} tags per image"
        if reason is None:
            self.tags[key] = value
        else:
            self.dropped.append({"key": key, "source": source, "reason": reason})


def allocate_tags(
    *,
    own: Mapping[str, str],
    user: Mapping[str, str],
    server: Iterable[tuple[str, str]],
    variables: Mapping[str, str],
) -> TagBudget:
    """The pipeline's own tags first, then the user's (variables filled), then the
    server's copied tags in key order, until IMS's 10 are used."""
    budget = TagBudget()
    for key, value in own.items():
        budget.offer(key, value, "pipeline")
    for key, value in user.items():
        budget.offer(key, render(value, variables), "input")
    for key, value in sorted(server):
        budget.offer(key, value, "server")

    return budget


def copied_server_tags(
    server_tags: Mapping[str, str], include: Iterable[str], exclude: Iterable[str]
) -> list[tuple[str, str]]:
    """The server tags to copy: all, or only `include`, never `exclude` or our own."""
    wanted = set(include)
    unwanted = set(exclude)

    return [
        (key, value)
        for key, value in server_tags.items()
        if (not wanted or key in wanted)
        and key not in unwanted
        and not key.startswith("ecs-imaging-")
    ]
