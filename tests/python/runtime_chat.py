"""The project's own register and cleanup functions (`functions/chat/code/`: reg.py and
clean.py with registry.py), invoked with the gateway's events; the id is stored in the bucket,
percent-encoded, through `qcloud_cos` with the function's temporary credentials, and removed
again. The twin of runtime_seed.py (the article's reg.py), which needs the article's files."""

import os
import sys
from urllib.parse import quote

from api3_common import REGION, scf
from runtime_common import BUCKET, cos, cos_bucket, create, invoke, ret, role

code_dir = sys.argv[1]
files = {}
for name in ("reg.py", "clean.py", "registry.py"):
    with open(os.path.join(code_dir, name), encoding="utf-8") as f:
        files[name] = f.read()
c = scf()
have_cos = cos_bucket()
# No keys in the environment: the registry uses the role's temporary credentials.
env = {"bucket": BUCKET, "region": REGION}
create(c, "chat-register", files, handler="reg.main_handler", env=env, timeout=10,
       role=role("chat-role"))
create(c, "chat-cleanup", files, handler="clean.main_handler", env=env, timeout=10,
       role=role("chat-role"))


def event(action, conn):
    return {"requestContext": {"serviceName": "chat", "path": "/ws", "httpMethod": "GET",
                               "requestId": "c6af9ac6-1", "sourceIp": "127.0.0.1",
                               "stage": "release", "websocketEnable": True},
            "websocket": {"action": action, "secConnectionID": conn}}


# An id starting with `/` (the COS SDK strips a leading `/` from keys) is kept whole.
for conn in ("CQ1RaJAf4vzaVAkNUdHLZA==", "/Q1RaJAf4vzaVAkNUdHLZA=="):
    r = invoke(c, "chat-register", event("connecting", conn))
    if not have_cos:
        # Imported and ran; only the skeleton COS's 404 failed it.
        assert "import" not in r["ErrMsg"].lower(), r
        continue
    v = ret(r)
    assert v == {"errNo": 0, "errMsg": "ok",
                 "websocket": {"action": "connecting", "secConnectionID": conn}}, v
    key = quote(conn, safe="")
    obj = cos().get_object(Bucket=BUCKET, Key=key)
    assert obj["Body"].get_raw_stream().read() == b"websocket"
    r = invoke(c, "chat-cleanup", event("closing", conn))
    assert ret(r) == {"errNo": 0, "errMsg": "ok"}, r
    listed = cos().list_objects(Bucket=BUCKET).get("Contents") or []
    assert key not in [o["Key"] for o in listed], listed
print("runtime chat ok")
