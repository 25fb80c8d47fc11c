# -*- coding: utf8 -*-
"""Register: runs during the WebSocket handshake; records the connection or refuses it.

The reply's `errNo` decides: 0 accepts the connection, anything else refuses it (the client
gets HTTP 403). Refused here: a missing or malformed `secConnectionID` (101, 102), and a
registry that cannot be written (103): a connection nobody can reach would be worse.
"""
import re
import traceback

import chat
import registry

# The gateway's ids are base64 (24 characters today; the docs say 32). Anything else is not
# an id the gateway made.
_ID = re.compile(r"^[A-Za-z0-9+/_-]{8,128}={0,2}$")


def refuse(err_no, msg):
    print("refused: %s" % msg)
    return {"errNo": err_no, "errMsg": msg}


def main_handler(event, context):
    ws = event.get("websocket") if isinstance(event, dict) else None
    cid = ws.get("secConnectionID") if isinstance(ws, dict) else None
    if cid is None or cid == "":
        return refuse(101, "missing secConnectionID")
    if not isinstance(cid, str) or not _ID.match(cid):
        return refuse(102, "malformed secConnectionID")
    try:
        registry.put(cid, chat.default_name(cid), joined=False)
    except Exception:
        traceback.print_exc()
        return refuse(103, "connection registry unavailable")
    print("connected %s from %s" % (cid, (event.get("requestContext") or {}).get("sourceIp", "?")))
    return {
        "errNo": 0,
        "errMsg": "ok",
        "websocket": {"action": "connecting", "secConnectionID": cid},
    }
