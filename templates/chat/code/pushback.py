# -*- coding: utf8 -*-
"""Push-back client: sends one frame to many connections at once.

The gateway's push-back endpoint (`PUSHBACK_URL`, set by chatstack for functions bound to the
WebSocket endpoint) takes one connection id per POST, so a broadcast to N people is N requests.
They are written back to back (HTTP/1.1 pipelining) over up to `PUSH_CONNECTIONS` keep-alive
connections that stay open while the worker is warm, and the replies are read with one
`selectors` loop: no threads, standard library only.

`push_all(ids, data)` returns `{id: errNo}`: 0 delivered, 1 connection not found, 2 the
connection was closed because its queue was full, ...; `None` when no reply came (after one
retry on a fresh connection).
"""
import json
import os
import selectors
import socket
import time
import urllib.parse
from collections import deque

_URL = urllib.parse.urlsplit(os.environ.get("PUSHBACK_URL") or os.environ.get("url") or "")
_HOST = _URL.hostname
_PORT = _URL.port or (443 if _URL.scheme == "https" else 80)
_PATH = (_URL.path or "/").encode()
# Pipelined recipients per connection before another connection is opened, and the most
# connections one invocation uses (the gateway answers each connection on its own task).
PER_CONNECTION = int(os.environ.get("PUSH_PER_CONNECTION", "32"))
MAX_CONNECTIONS = int(os.environ.get("PUSH_CONNECTIONS", "4"))
TIMEOUT_S = float(os.environ.get("PUSH_TIMEOUT_S", "10"))

_idle = []  # keep-alive sockets kept between invocations of this warm worker
_HEAD = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: " % (
    _PATH,
    (_URL.netloc or "").encode(),
)


class _Conn:
    __slots__ = ("sock", "out", "buf", "waiting", "dead", "close_after")

    def __init__(self, sock):
        self.sock = sock
        self.out = bytearray()
        self.buf = bytearray()
        self.waiting = deque()  # ids whose reply has not been read yet, in request order
        self.dead = False
        self.close_after = False


def _connect():
    if _URL.scheme != "http" or not _HOST:
        raise RuntimeError("PUSHBACK_URL must be an http:// URL, got %r" % (_URL.geturl(),))
    s = socket.create_connection((_HOST, _PORT), timeout=TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    return _Conn(s)


def _take():
    while _idle:
        c = _idle.pop()
        if not c.dead:
            return c
    return _connect()


def _request(cid, tail):
    body = b'{"websocket":{"action":"data send","secConnectionID":' + json.dumps(cid).encode() + tail
    return _HEAD + str(len(body)).encode() + b"\r\n\r\n" + body


def _parse(conn, results):
    """Consumes the complete replies in conn.buf."""
    buf = conn.buf
    while conn.waiting:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"connection:") and b"close" in line:
                conn.close_after = True
            elif line.startswith(b"transfer-encoding:"):
                raise OSError("unexpected chunked reply from the push-back endpoint")
        if len(buf) < end + 4 + length:
            return
        body = bytes(buf[end + 4 : end + 4 + length])
        del buf[: end + 4 + length]
        cid = conn.waiting.popleft()
        try:
            results[cid] = int(json.loads(body).get("errNo", -1))
        except (ValueError, TypeError, AttributeError):
            results[cid] = -1  # not the gateway's JSON answer
        if conn.close_after:
            conn.dead = True
            return


def _run(conns, results, deadline):
    sel = selectors.DefaultSelector()
    live = {}
    for c in conns:
        if c.waiting:
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            live[c.sock] = c
    try:
        while live:
            left = deadline - time.monotonic()
            if left <= 0:
                for c in live.values():
                    c.dead = True
                break
            for key, ev in sel.select(left):
                c = key.data
                try:
                    if ev & selectors.EVENT_WRITE and c.out:
                        n = c.sock.send(c.out[:262144])
                        del c.out[:n]
                    if ev & selectors.EVENT_READ:
                        data = c.sock.recv(262144)
                        if not data:
                            raise OSError("connection closed by the push-back endpoint")
                        c.buf += data
                        _parse(c, results)
                except (BlockingIOError, InterruptedError):
                    continue
                except (OSError, ValueError):
                    c.dead = True
                if c.dead or not c.waiting:
                    sel.unregister(c.sock)
                    del live[c.sock]
                elif not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
    finally:
        sel.close()


def push_all(ids, data, data_type="text"):
    """POSTs `data` to every id in `ids` concurrently; returns {id: errNo or None}."""
    results = {}
    if not ids:
        return results
    tail = (',"dataType":%s,"data":%s}}' % (json.dumps(data_type), json.dumps(data))).encode()
    deadline = time.monotonic() + TIMEOUT_S
    todo = list(ids)
    for attempt in range(2):  # one retry, on fresh connections, for requests with no reply
        n = max(1, min(MAX_CONNECTIONS, (len(todo) + PER_CONNECTION - 1) // PER_CONNECTION))
        conns = []
        try:
            for _ in range(n):
                conns.append(_take() if attempt == 0 else _connect())
        except OSError:
            if not conns:
                break
        for i, cid in enumerate(todo):
            c = conns[i % len(conns)]
            c.out += _request(cid, tail)
            c.waiting.append(cid)
        _run(conns, results, deadline)
        todo = []
        for c in conns:
            if c.dead or c.waiting:
                todo.extend(c.waiting)
                try:
                    c.sock.close()
                except OSError:
                    pass
            else:
                _idle.append(c)
        if not todo:
            break
    for cid in todo:
        results.setdefault(cid, None)
    return results
