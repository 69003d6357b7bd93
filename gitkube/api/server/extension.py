"""gitkube's own endpoints beside the Kubernetes API, for the Client methods Kubernetes lacks.

- ``POST /apis/gitkube.io/v1/transactions`` body ``{ops: [...]}`` -> ``TransactionResult
  {revision, results}``: ``Client.transaction``, all or nothing.
- ``GET /apis/gitkube.io/v1/records?key=K`` -> a ``Record`` (404 when missing);
  ``?prefix=P`` -> ``RecordList``: ``Client.get_record`` / ``list_records``.

The op encoding (``op_to_wire``/``op_from_wire``) is shared with the HTTP client. These paths
are not listed in discovery, so kubectl never sees them.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.client import (
    ApplyOp,
    BindOp,
    Client,
    CreateOp,
    DeleteOp,
    DeleteRecord,
    PutRecord,
    Record,
    TxnOp,
    UpdateOp,
)
from gitkube.api.server.bodies import MethodNotAllowed, parse_body
from gitkube.api.server.messages import Request, Response
from gitkube.errors import BadRequest, NotFound

Obj = dict[str, Any]
GROUP_VERSION = "gitkube.io/v1"
PREFIX = "/apis/gitkube.io/v1/"


def op_to_wire(op: TxnOp) -> Obj:
    if isinstance(op, CreateOp | UpdateOp):
        out: Obj = {"op": "create" if isinstance(op, CreateOp) else "update",
                    "object": op.object}
        if op.field_manager:
            out["fieldManager"] = op.field_manager
        return out
    if isinstance(op, ApplyOp):
        return {"op": "apply", "object": op.object, "fieldManager": op.field_manager,
                "force": op.force}
    if isinstance(op, DeleteOp):
        return {"op": "delete", "apiVersion": op.api_version, "kind": op.kind,
                "namespace": op.namespace, "name": op.name,
                "propagationPolicy": op.propagation_policy,
                "resourceVersion": op.resource_version, "uid": op.uid}
    if isinstance(op, PutRecord):
        return {"op": "putRecord", "key": op.key, "value": op.value,
                "expectedRevision": op.expected_revision}
    if isinstance(op, DeleteRecord):
        return {"op": "deleteRecord", "key": op.key, "missingOk": op.missing_ok}
    if isinstance(op, BindOp):
        return {"op": "bind", "namespace": op.namespace, "name": op.name,
                "nodeName": op.node_name, "uid": op.uid}
    raise BadRequest(f"not a transaction op: {op!r}")


def _str(d: Obj, key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"transaction op field {key!r} must be a string")
    return value


def _opt(d: Obj, key: str) -> Any:
    return d.get(key)


def op_from_wire(d: Any) -> TxnOp:
    if not isinstance(d, dict):
        raise BadRequest("a transaction op must be an object")
    kind = d.get("op")
    manager = d.get("fieldManager")
    if manager is not None and not isinstance(manager, str):
        raise BadRequest("transaction op field 'fieldManager' must be a string")
    if kind == "create":
        return CreateOp(d.get("object"), manager)  # type: ignore[arg-type]
    if kind == "update":
        return UpdateOp(d.get("object"), manager)  # type: ignore[arg-type]
    if kind == "apply":
        return ApplyOp(d.get("object"), _str(d, "fieldManager"),  # type: ignore[arg-type]
                       bool(d.get("force")))
    if kind == "delete":
        return DeleteOp(_str(d, "apiVersion"), _str(d, "kind"), _opt(d, "namespace"),
                        _str(d, "name"), _opt(d, "propagationPolicy"),
                        _opt(d, "resourceVersion"), _opt(d, "uid"))
    if kind == "putRecord":
        value = d.get("value")
        if not isinstance(value, dict):
            raise BadRequest("putRecord needs an object value")
        return PutRecord(_str(d, "key"), value, _opt(d, "expectedRevision"))
    if kind == "deleteRecord":
        return DeleteRecord(_str(d, "key"), bool(d.get("missingOk")))
    if kind == "bind":
        return BindOp(_opt(d, "namespace"), _str(d, "name"), _str(d, "nodeName"),
                      _opt(d, "uid"))
    raise BadRequest(f"unknown transaction op {kind!r}: create, update, apply, delete, "
                     "putRecord, deleteRecord or bind")


def record_to_wire(record: Record) -> Obj:
    return {"kind": "Record", "apiVersion": GROUP_VERSION, "key": record.key,
            "value": record.value, "revision": record.revision}


def record_from_wire(d: Obj) -> Record:
    return Record(str(d["key"]), d["value"], int(d["revision"]))


def handle(client: Client, req: Request) -> Response:
    rest = req.path[len(PREFIX):].strip("/")
    if rest == "transactions":
        if req.method != "POST":
            raise MethodNotAllowed("transactions accept POST only")
        body = parse_body(req.body, req.content_type, allow_yaml=False)
        ops = body.get("ops") if isinstance(body, dict) else None
        if not isinstance(ops, list):
            raise BadRequest("a transaction body is {\"ops\": [...]}")
        result = client.transaction([op_from_wire(o) for o in ops])
        return Response.json({"kind": "TransactionResult", "apiVersion": GROUP_VERSION,
                              "revision": result.revision, "results": result.results}, 201)
    if rest == "records":
        if req.method not in ("GET", "HEAD"):
            raise MethodNotAllowed("records accept GET only (write them in a transaction)")
        if "key" in req.query:
            record = client.get_record(req.query["key"])
            if record is None:
                raise NotFound(f"record {req.query['key']} not found", kind="records",
                               name=req.query["key"], group="gitkube.io")
            return Response.json(record_to_wire(record))
        if "prefix" in req.query:
            items = [record_to_wire(r) for r in client.list_records(req.query["prefix"])]
            return Response.json({"kind": "RecordList", "apiVersion": GROUP_VERSION,
                                  "items": items})
        raise BadRequest("records needs ?key=K or ?prefix=P")
    raise NotFound(f"the server could not find the requested resource (path {req.path})")
