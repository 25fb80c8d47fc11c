# -*- coding: utf8 -*-
"""Transport: runs for each frame a client sends (one at a time per connection).

- `hello` sets the sender's name (stored in its registry object), answers it `welcome` (its
  id and the online count) and announces `join` to everyone else.
- `message` (or any plain-text frame) is broadcast to everyone, the sender included, so the
  page shows the server's copy and recognises its own by `from == you`.
- `ping` is answered `pong` (keeps an idle connection open); anything else gets `error`.

The sender's name is the `name` in the frame when there is one (the page always sends it),
else the one stored by `hello`, else `guest-xxxx` derived from its id.
"""
import traceback

import chat
import registry


def hello(me, msg):
    name = chat.clean_name(msg.get("name"), me)
    before = registry.get(me) or {}
    registry.put(me, name, joined=True)
    conns = registry.connections()
    online = len({c.id for c in conns} | {me})
    chat.send(me, chat.frame("welcome", you=me, name=name, online=online))
    others = [c for c in conns if c.id != me]
    if before.get("joined") and before.get("name") == name:
        return  # said hello again with the same name: nothing new for the others
    fields = {"from": me, "name": name, "online": online}
    if before.get("joined"):
        fields["was"] = chat.clean_name(before.get("name"), me)  # a rename
    if others:
        chat.broadcast(others, chat.frame("join", **fields))


def message(me, msg):
    text = msg.get("text")
    if not isinstance(text, str) or not text.strip():
        chat.send(me, chat.error("empty", "nothing to send: the message has no text"))
        return
    if len(text) > chat.MAX_TEXT:
        chat.send(me, chat.error("too-long", "messages are limited to %d characters" % chat.MAX_TEXT))
        return
    name = msg.get("name")
    if not isinstance(name, str) or not name.strip():
        name = (registry.get(me) or {}).get("name")
    conns = registry.connections()
    online = len({c.id for c in conns} | {me})
    out = chat.frame("message", **{"from": me}, name=chat.clean_name(name, me), text=text, online=online)
    chat.broadcast(conns, out, also=me)


def main_handler(event, context):
    ws = event["websocket"]
    me = ws["secConnectionID"]
    try:
        handle(me, chat.parse(ws))
    except Exception:
        # A transport that fails makes the gateway drop the client's socket: tell the sender
        # instead, and keep the connection.
        traceback.print_exc()
        try:
            chat.send(me, chat.error("internal", "the server could not handle that frame; try again"))
        except Exception:
            traceback.print_exc()
    return "ok"


def handle(me, msg):
    if msg is None:
        chat.send(me, chat.error("binary", "binary frames are not supported: send text or JSON"))
        return
    kind = msg["type"]
    if kind == "message":
        message(me, msg)
    elif kind == "hello":
        hello(me, msg)
    elif kind == "ping":
        chat.send(me, chat.frame("pong"))
    else:
        chat.send(me, chat.error("unknown-type", "unknown frame type %r" % kind[:40]))
