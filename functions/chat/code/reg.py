# -*- coding: utf8 -*-
"""ChatReg: register a new WebSocket connection in the registry (registry.py)."""
import registry


def main_handler(event, context):
    cid = event["websocket"]["secConnectionID"]
    registry.add(cid)
    return {
        "errNo": 0,
        "errMsg": "ok",
        "websocket": {"action": "connecting", "secConnectionID": cid},
    }
