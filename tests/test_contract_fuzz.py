"""The OpenAPI schema is the contract: schemathesis runs over every operation of the live app
with each role's key, as its CLI would (examples, coverage and fuzzing phases, valid and
invalid requests), and checks every answer against the schema: declared statuses, bodies
and content types, no 5xx, valid requests accepted, invalid ones refused.

Bounded: a few examples per operation and mode, derandomized, no example database, so the
run is short and the same every time.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

from catalog.keys import Role
from query.api import create_app
from tests.access import World, make_world

MAX_EXAMPLES = 6

# Content sniffing and the combined limits of an upload (415 not media, 422 empty or a path
# over its byte limit, 413 too large) cannot be stated in JSON Schema: for that one operation
# a schema-valid request may also get those answers. Likewise whether an asset carries the tag a
# remove, restore or promote names depends on the asset: a name it lacks is a 422 that names the
# near ones (README, moderation), though the name itself is schema-valid.
CONFIG = """
[headers]
X-API-Key = "{key}"

[generation]
mode = "all"
max-examples = {examples}
deterministic = true
database = "none"

[phases]
stateful.enabled = false

[[operations]]
include-path = "/assets"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "401", "403", "404", "409", "413", "415", "422"
]

[[operations]]
include-path = "/search/by-image"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "413", "415", "422"]

[[operations]]
include-path-regex = "^/assets/[^/]+/similar"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409"]

[[operations]]
include-path-regex = "^/assets/[^/]+/tags"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return make_world(tmp_path_factory.mktemp("contract"))


def run_schemathesis(world: World, role: Role) -> tuple[Counter, list[str]]:
    """(requests by operation, failures) of one run with `role`'s key."""
    config = schemathesis.Config.from_str(
        CONFIG.format(key=world.keys[role], examples=MAX_EXAMPLES)
    )
    app = create_app(world.settings, world.store, encoder=world.encoder)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    requests: Counter = Counter()
    failures: list[str] = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, FatalError):
            raise event.exception
        if isinstance(event, NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}")
        if not isinstance(event, ScenarioFinished) or event.label is None:
            continue
        requests[event.label] += len(event.recorder.interactions)
        if event.status in (Status.FAILURE, Status.ERROR):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status is Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        detail = (failure.message or "").replace("\n", " ")[:300]
                        failures.append(f"{event.label}: {check.name}: {failure.title}: {detail}")
    return requests, sorted(set(failures))


@pytest.mark.parametrize("role", [Role.admin, Role.reader], ids=lambda r: r.value)
def test_schemathesis_finds_no_failure(world, role):
    requests, failures = run_schemathesis(world, role)
    operations = create_app(world.settings, world.store).openapi()["paths"]
    expected = sum(len(methods) for methods in operations.values())
    assert len(requests) == expected, f"operations run: {sorted(requests)}"
    assert sum(requests.values()) > 5 * expected
    assert failures == [], "\n".join(failures)
