"""The contract check itself: it must catch what GitHub's description forbids.

Each test runs twice: against a small OpenAPI document written here in GitHub's own shape (the
schemas of the operations the tests use, copied in spirit from GitHub's description: the unit
lane, no npm package needed) and against GitHub's real description from ``@octokit/openapi``
(marked integration, as the session-wide contract check is).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from jitops_sandbox.github import RequestRecord
from tests.contract.openapi import Description, description_path

KEYS = {"id": 1, "key": "ssh-ed25519 AAAA"}

_ERROR = {"$ref": "#/components/schemas/basic-error"}

#: a few of GitHub's operations and schemas, as its description spells them (OpenAPI 3.0,
#: ``nullable``, shared ``components/responses``)
SMALL_DESCRIPTION = {
    "openapi": "3.0.3",
    "info": {"version": "small"},
    "paths": {
        "/users/{username}/keys": {
            "get": {
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/key-simple"},
                                }
                            }
                        },
                    },
                    "404": {"$ref": "#/components/responses/not_found"},
                }
            }
        },
        "/orgs/{org}/teams/{team_slug}/memberships/{username}": {
            "get": {
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/team-membership"}
                            }
                        },
                    },
                    "404": {"description": "if user has no team membership"},
                }
            }
        },
        "/repos/{owner}/{repo}/rulesets/{ruleset_id}": {
            "get": {
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/repository-ruleset"}
                            }
                        },
                    },
                    "404": {"$ref": "#/components/responses/not_found"},
                }
            }
        },
    },
    "components": {
        "schemas": {
            "basic-error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "documentation_url": {"type": "string"},
                },
            },
            "key-simple": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "key": {"type": "string"}},
                "required": ["key", "id"],
            },
            "team-membership": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "role": {"type": "string", "enum": ["member", "maintainer"]},
                    "state": {"type": "string", "enum": ["active", "pending"]},
                },
                "required": ["role", "state", "url"],
            },
            "repository-ruleset-bypass-actor": {
                "type": "object",
                "properties": {
                    "actor_id": {"type": "integer", "nullable": True},
                    "actor_type": {
                        "type": "string",
                        "enum": [
                            "Integration",
                            "OrganizationAdmin",
                            "RepositoryRole",
                            "Team",
                            "DeployKey",
                        ],
                    },
                    "bypass_mode": {"type": "string", "enum": ["always", "pull_request"]},
                },
                "required": ["actor_type"],
            },
            "repository-ruleset": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "source": {"type": "string"},
                    "enforcement": {"type": "string", "enum": ["disabled", "active", "evaluate"]},
                    "bypass_actors": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/repository-ruleset-bypass-actor"},
                    },
                },
                "required": ["id", "name", "source", "enforcement"],
            },
        },
        "responses": {
            "not_found": {
                "description": "Resource not found",
                "content": {"application/json": {"schema": _ERROR}},
            }
        },
    },
}


@cache
def _github() -> Description:
    return Description(description_path())


@pytest.fixture(
    params=["small", pytest.param("github", marks=pytest.mark.integration)], scope="module"
)
def description(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Description:
    if request.param == "github":
        return _github()
    path: Path = tmp_path_factory.mktemp("openapi") / "api.github.com.json"
    path.write_text(json.dumps(SMALL_DESCRIPTION), encoding="utf-8")
    return Description(path)


def record(method: str, path: str, status: int, body: object, fault: bool = False) -> RequestRecord:
    return RequestRecord(method, path, "", status, "alice", route="x", body=body, fault=fault)


def test_a_missing_required_field_and_a_wrong_type_are_caught(description: Description) -> None:
    report = description.check(
        [
            record("GET", "/users/octocat/keys", 200, [KEYS]),
            record("GET", "/users/octocat/keys", 200, [{"id": 1}]),
            record("GET", "/users/octocat/keys", 200, [{"id": "1", "key": "k"}]),
        ]
    )
    assert report.checked == 3
    assert sorted(p.message for p in report.problems) == [
        "0/id: '1' is not of type 'integer'",
        "0: 'key' is a required property",
    ]
    assert report.operations == {("GET", "/users/{username}/keys", 200)}


def test_nullable_admits_null_and_only_where_described(description: Description) -> None:
    membership = {"url": "http://x/m", "role": "member", "state": "active"}
    ruleset = {"id": 1, "name": "x", "source": "acme/access", "enforcement": "active"}
    deploy_key = {"actor_id": None, "actor_type": "DeployKey", "bypass_mode": "always"}
    ok = description.check(
        [
            record("GET", "/orgs/acme/teams/dba/memberships/alice", 200, membership),
            # repository-ruleset-bypass-actor's actor_id is nullable: true
            record(
                "GET",
                "/repos/acme/access/rulesets/1",
                200,
                {**ruleset, "bypass_actors": [deploy_key]},
            ),
        ]
    )
    assert ok.problems == []
    assert ok.checked == 2
    unset = {**membership, "state": None}
    bad = description.check([record("GET", "/orgs/acme/teams/dba/memberships/alice", 200, unset)])
    assert {p.message for p in bad.problems} == {
        "state: None is not of type 'string'",
        "state: None is not one of ['active', 'pending']",
    }


def test_unknown_operations_and_error_bodies_are_judged_faults_are_not(
    description: Description,
) -> None:
    report = description.check(
        [
            record("GET", "/repos/acme/access/no-such-thing", 200, {}),
            record("GET", "/users/octocat/keys", 404, {"message": "Not Found"}),
            record("GET", "/users/octocat/keys", 403, {"message": 7}),
            record("GET", "/users/octocat/keys", 502, {"oops": True}, fault=True),
        ]
    )
    assert [(p.status, p.message) for p in report.problems] == [
        (200, "no such operation"),
        (403, "message: 7 is not of type 'string'"),
    ]


@pytest.mark.integration  # GitHub's own description (npm @octokit/openapi)
def test_the_owners_key_fields_and_string_review_errors_are_required() -> None:
    """GitHub's ``key`` schema (``GET /user/keys``) requires url, title, created_at, verified
    and read_only; ``POST .../reviews`` answers 422 with ``validation-error-simple``, whose
    ``errors`` are strings. The stand-in once sent ``{id, key}`` and error objects there."""
    full = {
        **KEYS,
        "url": "https://api.github.com/user/keys/1",
        "title": "laptop",
        "created_at": "2026-11-01T10:00:00Z",
        "verified": False,
        "read_only": False,
    }
    reviews = "/repos/acme/access/pulls/1/reviews"
    docs = "https://docs.github.com/rest"
    as_objects = {"resource": "PullRequestReview", "field": "event", "code": "invalid"}
    bad = _github().check(
        [
            record("GET", "/user/keys", 200, [KEYS]),
            record("POST", reviews, 422, {"message": "Validation Failed", "errors": [as_objects]}),
        ]
    )
    assert sorted(p.message for p in bad.problems) == [
        "(body): 'documentation_url' is a required property",
        "0: 'created_at' is a required property",
        "0: 'read_only' is a required property",
        "0: 'title' is a required property",
        "0: 'url' is a required property",
        "0: 'verified' is a required property",
        f"errors/0: {as_objects!r} is not of type 'string'",
    ]
    good = _github().check(
        [
            record("GET", "/user/keys", 200, [full]),
            record("GET", "/users/octocat/keys", 200, [KEYS]),  # key-simple: id and key
            record(
                "POST",
                reviews,
                422,
                {"message": "Unprocessable Entity", "errors": ["x"], "documentation_url": docs},
            ),
        ]
    )
    assert good.problems == [] and good.checked == 3
