# -*- coding: utf8 -*-
"""The chat protocol shared by the three functions: frames, names, and broadcasting.

Every frame is a JSON object in a text WebSocket frame (see README.md for the table).
Client → server: `{"type":"hello","name":…}`, `{"type":"message","text":…,"name":…}`,
`{"type":"ping"}`, or any other text, which is a message with that text (what `wscat` sends).
Server → client: `welcome`, `message`, `join`, `leave`, `pong`, `error`.

Gone connections: when a push answers errNo 1 ("connection not found") the id is removed from
the registry, but only if its object is older than GONE_MARGIN_S. Register writes the id
*before* the gateway admits the connection, so for a moment a brand-new, healthy connection
also answers errNo 1; deleting it then would make it deaf for good. Ids that really closed are
removed by cleanup; this sweep catches the ones cleanup missed (a crash, or a `hello` that
rewrote the object while the connection was closing).
"""
import hashlib
import json
import time
import unicodedata

import pushback
import registry

MAX_NAME = 32  # characters
MAX_TEXT = 2000  # characters; longer messages are refused with an error frame
GONE_MARGIN_S = 60

OK = 0
GONE = 1  # push-back errNo: connection not found


def now_ms():
    return int(time.time() * 1000)


def default_name(cid):
    """A short, stable name for a connection that never said hello: `guest-1a2b`."""
    return "guest-" + hashlib.sha1(cid.encode("utf-8")).hexdigest()[:4]


def clean_name(name, cid):
    """The name as shown to others: one line, no control characters, at most MAX_NAME."""
    if not isinstance(name, str):
        return default_name(cid)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split())[:MAX_NAME].strip()
    return name or default_name(cid)


def frame(kind, **fields):
    """A server → client frame: compact JSON text."""
    fields["type"] = kind
    fields.setdefault("ts", now_ms())
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def error(code, text):
    return frame("error", code=code, text=text)


def parse(ws):
    """The client frame in a transport event: a dict with at least `type`, or None for a
    binary frame (answered with an error: the page could not show it).

    A text frame holding a JSON object with a `type` is taken as is; any other text frame
    (plain text, a JSON string or number, an object without `type`) is a message with that
    text.
    """
    if ws.get("dataType") == "binary":
        return None
    data = ws.get("data")
    if not isinstance(data, str):
        data = ""
    if data.lstrip().startswith("{"):
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("type"), str):
            return obj
    return {"type": "message", "text": data}


def send(cid, data):
    """Pushes one frame to one connection; returns its errNo (None: no answer)."""
    return pushback.push_all([cid], data).get(cid)


def broadcast(conns, data, also=None):
    """Pushes `data` to every connection in `conns` (registry.Connection list) and to `also`.

    Returns the `{id: errNo}` results. Ids answering GONE whose registry object is older than
    GONE_MARGIN_S are removed from the registry (see the module docstring).
    """
    ids = [c.id for c in conns]
    if also is not None and also not in ids:
        ids.append(also)
    results = pushback.push_all(ids, data)
    cutoff = time.time() - GONE_MARGIN_S
    removed = failed = 0
    for c in conns:
        err = results.get(c.id)
        if err == GONE and c.id != also and c.modified < cutoff:
            try:
                registry.remove(c.id)
                removed += 1
            except Exception as e:  # a failed sweep must not fail the message
                print("could not remove gone connection %s: %s" % (c.id, e))
        elif err not in (OK, GONE):
            failed += 1
    if removed or failed:
        print("pushed to %d: %d gone ids removed, %d failed" % (len(ids), removed, failed))
    return results
