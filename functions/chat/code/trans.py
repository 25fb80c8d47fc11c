# -*- coding: utf8 -*-
"""ChatTrans: broadcast a message to every other connection, concurrently.

Same behaviour as the article's transport (the registry is the COS bucket, listed once per
message; the text gets the "(===Online people:N===)" suffix), but the N-1 pushes are in flight
together (see pushback.py) instead of one `requests.post` after the other.

Ids the gateway answers "connection not found" (errNo 1) for are NOT removed from the registry:
register writes the id before the gateway admits the connection, so a new client can be listed
a moment before it is reachable; cleanup removes every id that really closed.
"""
import pushback
import registry

GONE = 1  # push-back errNo: connection not found (closing, or not admitted yet)


def main_handler(event, context):
    ws = event["websocket"]
    me = ws["secConnectionID"]
    ids = registry.online()
    if ws.get("dataType") == "binary":
        data, data_type = ws["data"], "binary"  # base64, forwarded as is
    else:
        data, data_type = ws["data"] + "(===Online people:" + str(len(ids)) + "===)", "text"
    results = pushback.push_all([i for i in ids if i != me], data, data_type)
    failed = sum(1 for e in results.values() if e not in (0, GONE))
    if failed:
        print("%d of %d pushes failed" % (failed, len(results)))
    return "send success"
