"""No credential in any log, event or history; least privilege; every dependency pinned."""

import ast
import logging
import re
import secrets
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from ecs_imaging import observability
from ecs_imaging_local import reliability
from ecs_imaging_local.capture import Secret, captured_logs, find_secrets
from ecs_imaging_local.template import load_template
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "layers" / "shared"
REQUIREMENT_FILES = [ROOT / "requirements" / "dev.txt", LIBRARY / "requirements.txt"]
LOCK_FILE = ROOT / "requirements" / "lock.txt"
PINNED = re.compile(r"^[A-Za-z0-9._-]+(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")
SCANNED_SOURCES = {"stdout log", "log record", "history", "run events"}

# Calls our code makes through a library: Powertools' DynamoDB idempotency store.
IMPLIED_CALLS = {"DynamoDBPersistenceLayer": {"get_item", "put_item", "update_item", "delete_item"}}
# Granted so that another action works: Secrets Manager decrypts for its caller.
COMPANION_ACTIONS = {"kms:Decrypt": "secretsmanager:GetSecretValue"}


# --- secrets in logs, events and execution histories ----------------------------


@pytest.fixture(scope="module")
def every_verdict(verdicts):
    """The verdicts of both suites; a suite this session did not run is run here."""
    if not verdicts["faults"]:
        verdicts["faults"] = reliability.run_fault_table()
    if not verdicts["bad inputs"]:
        verdicts["bad inputs"] = reliability.run_bad_input_table()

    return verdicts["faults"] + verdicts["bad inputs"]


def test_logs_events_and_histories_of_both_suites_hold_no_secret(every_verdict):
    found = [(v.suite, v.name, finding) for v in every_verdict for finding in v.scan.findings]

    assert found == []


def test_secret_scan_read_json_logs_at_debug_and_every_history(every_verdict):
    scanned = {source for v in every_verdict for source in v.scan.scanned_bytes}
    runs = [v for v in every_verdict if v.suite == "faults"]

    assert scanned >= SCANNED_SOURCES
    assert all(v.json_lines > 0 for v in runs)
    assert all("history" in v.scan.scanned_bytes for v in runs if v.executions)
    assert sum(v.debug_records for v in runs) > 0


def test_secret_scan_finds_a_credential_in_each_kind_of_log():
    planted = Secret("password", f"planted-{secrets.token_hex(8)}")

    with captured_logs() as logs:
        observability.logger.debug("Handler line", extra={"value": planted.value})
        logging.getLogger("ecs_imaging.planted").debug("Library line %s", planted.value)
        logging.getLogger("botocore.planted").debug("Root line", extra={"v": planted.value})
    scan = find_secrets(logs.texts(), [planted])

    assert scan.findings.count("password in stdout log") == 2
    assert scan.findings.count("password in log record") >= 2


# --- IAM policies in template.yaml ---------------------------------------------


@pytest.fixture(scope="module")
def resources():
    return load_template()["Resources"]


def _statements(node):
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            for statement in node["Statement"]:
                if isinstance(statement, dict) and "Fn::If" in statement:
                    yield from (s for s in statement["Fn::If"][1:] if "Effect" in s)
                else:
                    yield statement
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_iam_statements_use_no_wildcard_inside_an_action(resources):
    for statement in _statements(resources):
        for action in _as_list(statement.get("Action", [])):
            assert "*" not in action and "?" not in action, statement


def test_iam_statements_use_no_negation(resources):
    for statement in _statements(resources):
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement


def test_roles_trust_only_aws_services_of_this_account(resources):
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    for role in roles:
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            assert set(statement["Principal"]) == {"Service"}, statement
            condition = statement.get("Condition", {}).get("StringEquals", {})
            assert {"aws:SourceAccount", "aws:SourceArn"} & set(condition), statement


def test_only_the_webhook_has_a_public_url(resources):
    public = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "FunctionUrlConfig" in resource["Properties"]
    ]

    # The webhook answers anyone; the signature of each delivery is its authentication.
    assert set(public) <= {"WebhookFunction"}


def _granted_actions(resources, function):
    documents = []
    for policy in function["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"a managed or SAM policy by name: {policy!r}"
        reference = policy.get("Ref")
        documents.append(resources[reference]["Properties"] if reference else policy)

    return {action for s in _statements(documents) for action in _as_list(s["Action"])}


def _code_closure(path: Path) -> list[Path]:
    """The handler's file and every library module it imports, however indirectly."""
    seen, pending = [], [path]
    while pending:
        current = pending.pop()
        if current in seen or not current.is_file():
            continue
        seen.append(current)
        for node in ast.walk(ast.parse(current.read_text("utf-8"))):
            pending += _imported_modules(node, current)

    return seen


def _imported_modules(node, current):
    package = LIBRARY / "ecs_imaging"
    if isinstance(node, ast.ImportFrom) and node.level == 1:
        base = current.parent / (node.module or "")
        names = [] if node.module else [alias.name for alias in node.names]
        return [base.with_suffix(".py")] + [current.parent / f"{n}.py" for n in names]
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ecs_imaging"):
        module = package.parent / (node.module.replace(".", "/") + ".py")
        return [module] + [package / f"{alias.name}.py" for alias in node.names]

    return []


def _called_names(paths):
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
            if isinstance(node, ast.Name | ast.alias):
                names |= IMPLIED_CALLS.get(getattr(node, "id", getattr(node, "name", "")), set())

    return names


def _snake_case(operation):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def test_every_function_is_granted_only_what_its_code_calls(resources):
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for logical_id, function in functions.items():
        handler = ROOT / function["Properties"]["CodeUri"] / "app.py"
        called = _called_names(_code_closure(handler))

        for action in _granted_actions(resources, function):
            operation = COMPANION_ACTIONS.get(action, action).split(":", 1)[1]
            assert _snake_case(operation) in called, f"{logical_id} is granted {action}"


# --- pinned dependencies -------------------------------------------------------


def _requirement_lines(path):
    for raw in path.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-r "):
            yield line


@pytest.mark.parametrize("path", REQUIREMENT_FILES, ids=lambda path: path.parent.name)
def test_every_requirement_line_is_pinned(path):
    loose = [line for line in _requirement_lines(path) if not PINNED.match(line)]

    assert loose == []


def _needed_distributions():
    """Every distribution the requirement files pull in, with the extras they ask for."""
    pending = [Requirement(line) for path in REQUIREMENT_FILES for line in _requirement_lines(path)]
    seen, missing = set(), []
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dependencies = [Requirement(text) for text in metadata.requires(requirement.name) or []]
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        for dependency in dependencies:
            marker = dependency.marker
            wanted = requirement.extras | {""}
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in wanted):
                pending.append(dependency)

    assert missing == [], "needed but not installed"

    return {name for name, _ in seen}


def _pins(lines):
    return {
        canonicalize_name(name): version
        for name, version in (line.split("==", 1) for line in lines if "==" in line)
    }


def test_lock_pins_every_installed_distribution_the_project_needs():
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installed, locked = _pins(frozen), _pins(_requirement_lines(LOCK_FILE))
    needed = _needed_distributions()

    assert sorted(needed - set(locked)) == []
    assert {n: locked[n] for n in needed} == {n: installed.get(n) for n in needed}
    assert {n: v for n, v in locked.items() if installed.get(n) != v} == {}
