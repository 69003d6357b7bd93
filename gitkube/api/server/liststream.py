"""Large list answers encoded piece by piece, so the server never holds a whole list.

A list of 10,000 Pods is about 6 MB of JSON, but as decoded objects, then one JSON string,
then bytes it cost the daemon ~80 MB at once. Here the document is written as its head
(``{"kind":...,"apiVersion":...,"metadata":{...},"items":[``), then the items in batches of
about ``BATCH_BYTES``, then ``]}``: byte for byte what ``encode_json`` of the whole document
gives, so every client parses it unchanged. With ``LocalClient.iter_list`` the items are
decoded one at a time as well; with any other Client they come from ``list`` (the encoding
is still streamed).

A list that fits in one batch is answered as a plain ``Response`` (Content-Length, one
write); a larger one as a finite ``Stream`` (chunked, counted as a request in flight).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, Protocol, runtime_checkable

from gitkube.api.client import FieldSelectorArg, LabelSelectorArg
from gitkube.api.server.bodies import encode_json
from gitkube.api.server.messages import Answer, Response, Stream

Obj = dict[str, Any]
# About this much JSON is encoded before it is handed to the socket.
BATCH_BYTES = 64 * 1024


@runtime_checkable
class ItemLister(Protocol):
    """A Client that can also list one object at a time (``LocalClient.iter_list``)."""

    def iter_list(self, api_version: str, kind: str, namespace: str | None = None, *,
                  label_selector: LabelSelectorArg = None,
                  field_selector: FieldSelectorArg = None) -> tuple[str, Iterator[Obj]]: ...


def pieces(head: Obj, field: str, items: Iterable[Any],
           render: Callable[[Any], Any] | None = None,
           batch_bytes: int = BATCH_BYTES) -> Iterator[bytes]:
    """``encode_json({**head, field: [render(i) for i in items]})`` in pieces of at least
    ``batch_bytes`` (the last one may be smaller). ``field`` must not be in ``head``."""
    assert field not in head
    opening = encode_json(head)
    opening = opening[:-1] + (b"," if head else b"") + encode_json(field) + b":["
    batch: list[bytes] = [opening]
    size = len(opening)
    first = True
    for item in items:
        data = encode_json(render(item) if render is not None else item)
        if not first:
            batch.append(b",")
        first = False
        batch.append(data)
        size += len(data) + 1
        if size >= batch_bytes:
            yield b"".join(batch)
            batch, size = [], 0
    batch.append(b"]}")
    yield b"".join(batch)


def answer(chunks: Iterator[bytes], *, head_only: bool = False) -> Answer:
    """A ``Response`` when ``chunks`` has a single piece (or for HEAD, which sends no body),
    else a finite ``Stream`` of them."""
    if head_only:
        return Response(200, b"".join(chunks))
    first = next(chunks)
    second = next(chunks, None)
    if second is None:
        return Response(200, first)
    return Stream(chain((first, second), chunks), finite=True)
