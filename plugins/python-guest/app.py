"""A capcrm plugin written in Python, built against the same WIT world as the Rust guests.

- `GET /run[?id=<contact id>]`: lists up to 5 contacts and answers their `first_name` (granted),
  tries a list filtered on `last_name` (not granted; the access-denied error is caught and its text
  reported), and, given an `id` among those listed, reads that record too. Answers
  `{"first_names": [...], "denied": ["<error text>"], "lang": "python"}` (plus `"record"` with an id).
- Event on a record: sets its `tags` to `["py-seen"]`.
- Jobs: this plugin has none; any job is an `invalid-input` error.

Field values never go to the log; only counts do.
"""

import json
from urllib.parse import parse_qs

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.events import Event
from wit_world.exports.http import Request, Response
from wit_world.imports import host
from wit_world.imports.records import Collection, Filter, FilterOp
from wit_world.imports.types import Error_AccessDenied, Error_InvalidInput, FieldValue, RecordData


def field(record: RecordData, name: str):
    """The decoded value of a field, or None when the plugin does not see it."""
    return next((json.loads(f.value) for f in record.fields if f.name == name), None)


def respond(status: int, body: dict) -> Response:
    return Response(status, [("content-type", "application/json")], json.dumps(body).encode())


class Http(exports.Http):
    def handle(self, req: Request) -> Response:
        if (req.method, req.path) != ("GET", "/run"):
            return respond(404, {"error": "not found"})
        record_id = parse_qs(req.query).get("id", [None])[0]
        with Collection.open("contact") as contacts:
            listed = contacts.list([], None, 5).records
            answer = {"first_names": [field(r, "first_name") for r in listed], "denied": [], "lang": "python"}
            try:
                contacts.list([Filter("last_name", FilterOp.EQ, json.dumps("Lovelace"))], None, 5)
            except Err as e:
                if not isinstance(e.value, Error_AccessDenied):
                    raise
                answer["denied"].append(f"access-denied: {e.value.value}")
            if record_id:
                answer["record"] = {"id": record_id, "first_name": field(contacts.get(record_id), "first_name")}
        host.log(host.Level.INFO, f"listed {len(listed)} contacts, {len(answer['denied'])} denied")
        return respond(200, answer)


class Events(exports.Events):
    def handle(self, event: Event) -> None:
        with Collection.open(event.object) as records:
            records.update(event.record_id, [FieldValue("tags", json.dumps(["py-seen"]))], None)


class Jobs(exports.Jobs):
    def run(self, job: str) -> None:
        raise Err(Error_InvalidInput(f"this plugin has no job `{job}`"))
