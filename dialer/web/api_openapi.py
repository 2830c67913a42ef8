"""The OpenAPI 3 document of /api/v1, written by hand (tests validate it with openapi-spec-validator
and check that every route of the app is in it and every path in it is a route)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERR = {"description": "refused; the body says why", "content": {JSON: {"schema": _ref("Error")}}}
DENIED = {"401": {"description": "no key, or an unknown one"}, "403": {"description": "the key lacks the scope"},
          "429": {"description": "over the key's rate; see Retry-After",
                  "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}  # fmt: skip
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "campaign name"}
NUMBER = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "+E.164, or national with ?region="},
          {"name": "region", "in": "query", "required": False, "schema": {"type": "string"}}]  # fmt: skip


def _op(summary: str, scope: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, "description": f"Scope: {scope}.", "security": [{"apiKey": []}],
            "responses": {**responses, **DENIED}, **more}  # fmt: skip


def _command(verb: str) -> dict[str, Any]:
    return {"post": _op(f"{verb} the campaign", "write", {"200": _ok("the change", _ref("StateChange")), "404": ERR,
                                                           "409": ERR}, parameters=[NAME])}  # fmt: skip


OBJ: dict[str, Any] = {"type": "object"}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "row": {"type": "integer"}, "field": {"type": "string"}, "error": {"type": "string"},
            "reason": {"type": "string"}}}}}},
    "Campaign": {"type": "object", "properties": {
        "name": {"type": "string"}, "state": {"type": "string", "enum": ["draft", "active", "paused", "stopped", "finished"]},
        "flow": {"type": "string"}, "language": {"type": "string"}, "contacts": {"type": "integer"},
        "pending": {"type": "integer"}, "attempts": {"type": "integer"}, "live": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"}}},
    "StateChange": {"type": "object", "properties": {"campaign": {"type": "string"}, "from": {"type": "string"},
                                                     "to": {"type": "string"}}},
    "ContactIn": {"type": "object", "required": ["external_id"], "additionalProperties": True, "properties": {
        "external_id": {"type": "string"}, "name": {"type": "string"}, "timezone": {"type": "string"},
        "phone": {"type": "string"}, "phones": {"type": "array", "items": {"type": "string"}},
        "debt_id": {"type": "string"}, "fields": OBJ}},
    "Attempt": {"type": "object", "properties": {
        "id": {"type": "string"}, "number": {"type": "string"}, "state": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": "string", "format": "date-time", "nullable": True},
        "dial_result": {"type": "string", "nullable": True}, "outcome": {"type": "string", "nullable": True},
        "reason": {"type": "string", "nullable": True}, "step_reached": {"type": "string", "nullable": True},
        "details": OBJ}},
    "Result": {"allOf": [_ref("Attempt"), {"type": "object", "properties": {
        "campaign": {"type": "string"}, "external_id": {"type": "string"},
        "facts": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "value": {"type": "string", "nullable": True},
            "at": {"type": "string", "format": "date-time"}}}}}}]},
    "Contact": {"type": "object", "properties": {
        "campaign": {"type": "string"}, "external_id": {"type": "string"}, "name": {"type": "string", "nullable": True},
        "disposition": {"type": "string"}, "phones": {"type": "array", "items": {"type": "string"}}, "fields": OBJ,
        "attempts": {"type": "array", "items": _ref("Attempt")},
        "explain": {"type": "array", "items": {"type": "string"}}}},
    "Dnc": {"type": "object", "properties": {
        "number": {"type": "string"}, "listed": {"type": "boolean"}, "source": {"type": "string"},
        "reason": {"type": "string", "nullable": True}, "added_at": {"type": "string", "format": "date-time"}}},
}  # fmt: skip

PATHS: dict[str, Any] = {
    "/campaigns": {"get": _op("every campaign with its counts", "read",
                              {"200": _ok("the campaigns", {"type": "object", "properties": {
                                  "campaigns": {"type": "array", "items": _ref("Campaign")}}})}),
                   "post": _op("create a campaign (state draft) with the checks of a campaign file", "write",
                               {"201": _ok("created", {"type": "object", "properties": {
                                   "campaign": {"type": "string"}, "id": {"type": "integer"},
                                   "state": {"type": "string"}}}),
                                "400": ERR, "409": ERR, "422": ERR},
                               requestBody={"required": True, "content": {JSON: {"schema": {
                                   "type": "object", "required": ["name", "flow", "language", "default_region"],
                                   "additionalProperties": True, "description": "the keys of a campaign.toml",
                                   "properties": {"name": {"type": "string"}, "flow": {"type": "string"},
                                                  "language": {"type": "string"},
                                                  "default_region": {"type": "string"},
                                                  "trunk": {"type": "string"},
                                                  "trunk_template": {"type": "string"}}}}}})},
    "/campaigns/{name}": {"get": _op("one campaign", "read", {"200": _ok("it", _ref("Campaign")), "404": ERR},
                                     parameters=[NAME])},
    **{f"/campaigns/{{name}}/{verb}": _command(verb) for verb in ("start", "pause", "resume", "stop")},
    "/campaigns/{name}/contacts": {"post": _op(
        "add up to 10,000 contacts: all or nothing, idempotent by external_id", "write",
        {"200": _ok("added, and the external ids already there", {"type": "object", "properties": {
            "campaign": {"type": "string"}, "added": {"type": "integer"},
            "existing": {"type": "array", "items": {"type": "string"}}}}),
         "404": ERR, "413": ERR, "422": ERR},
        parameters=[NAME], requestBody={"required": True, "content": {JSON: {"schema": {
            "type": "object", "required": ["contacts"], "properties": {
                "contacts": {"type": "array", "maxItems": 10000, "items": _ref("ContactIn")}}}}}})},
    "/campaigns/{name}/contacts/{external_id}": {"get": _op(
        "one contact, its attempts and why it is or is not called next", "read",
        {"200": _ok("it", _ref("Contact")), "404": ERR},
        parameters=[NAME, {"name": "external_id", "in": "path", "required": True, "schema": {"type": "string"}}])},
    "/results": {"get": _op("attempts whose ending was recorded after a cursor (and 30 s ago), with their IVR "
                            "facts, oldest recorded first", "read",
                            {"200": _ok("a page", {"type": "object", "properties": {
                                "results": {"type": "array", "items": _ref("Result")},
                                "next_cursor": {"type": "string", "nullable": True}}}), "400": ERR},
                            parameters=[{"name": "since", "in": "query", "required": False, "schema": {"type": "string"}},
                                        {"name": "limit", "in": "query", "required": False,
                                         "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}])},
    "/dnc/{number}": {
        "get": _op("is the number on the DNC list", "read", {"200": _ok("it", _ref("Dnc")), "400": ERR},
                   parameters=NUMBER),
        "post": _op("put the number on the DNC list (a number already there stays as it is)", "write",
                    {"200": _ok("it", _ref("Dnc")), "400": ERR}, parameters=NUMBER,
                    requestBody={"required": False, "content": {JSON: {"schema": {"type": "object", "properties": {
                        "source": {"type": "string"}, "reason": {"type": "string"}}}}}}),
        "delete": _op("take the number off the DNC list", "admin", {"200": _ok("it", _ref("Dnc")), "404": ERR},
                      parameters=NUMBER)},
    "/payments": {"post": _op("mark contacts paid: no more calls, open promises kept, queued texts cancelled", "write",
                              {"200": _ok("counts", {"type": "object", "properties": {
                                  "paid": {"type": "integer"}, "promises_kept": {"type": "integer"},
                                  "texts_cancelled": {"type": "integer"}}}), "404": ERR, "422": ERR},
                              requestBody={"required": True, "content": {JSON: {"schema": {
                                  "type": "object", "required": ["external_ids"], "properties": {
                                      "external_ids": {"type": "array", "items": {"type": "string"}},
                                      "campaign": {"type": "string"}}}}}})},
}  # fmt: skip


def document(prefix: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "dialer HTTP API", "version": "1.0.0",
                 "description": "Keys: `dialer api-keys add NAME --scope read|write|admin`; send "
                                "`Authorization: Bearer <key>`. Every write is in the audit table."},
        "servers": [{"url": prefix}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
    }  # fmt: skip
