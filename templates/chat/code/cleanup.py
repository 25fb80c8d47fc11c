# -*- coding: utf8 -*-
"""Cleanup: runs once per closed connection; forgets it and tells the others.

The connection is already gone when cleanup runs, so nothing is pushed to it. The others get
`{"type":"leave","from":…,"name":…,"online":N}` with the new count.
"""
import traceback

import chat
import registry


def main_handler(event, context):
    me = event["websocket"]["secConnectionID"]
    try:
        name = (registry.get(me) or {}).get("name")
    except Exception:
        traceback.print_exc()  # still forget the connection; the leave notice gets the default name
        name = None
    name = chat.clean_name(name, me)
    registry.remove(me)
    print("disconnected %s (%s)" % (me, name))
    others = [c for c in registry.connections() if c.id != me]
    if others:
        chat.broadcast(others, chat.frame("leave", **{"from": me}, name=name, online=len(others)))
    return {"errNo": 0, "errMsg": "ok"}
