# -*- coding: utf8 -*-
"""ChatClean: forget a closed connection (the gateway calls it once per disconnect).

The connection is already gone when cleanup runs, so unlike the article this sends no
`closing` push (it would only answer "connection not found").
"""
import registry


def main_handler(event, context):
    registry.remove(event["websocket"]["secConnectionID"])
    return {"errNo": 0, "errMsg": "ok"}
