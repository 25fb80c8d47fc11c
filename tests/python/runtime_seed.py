"""The seed article's register function (`seed/code/reg.py`), unmodified, invoked with the
gateway's connecting event; it stores the connection id in the bucket through `qcloud_cos_v5`."""

import json
import sys

from api3_common import REGION, scf
from runtime_common import BUCKET, cos, cos_bucket, create, invoke, ret, role

reg_py = open(sys.argv[1], encoding="utf-8").read()
c = scf()
have_cos = cos_bucket()
# secret_id/secret_key are left unset: the function runs with its execution role's temporary
# credentials (without a role it would get none, as in SCF).
create(c, "chat-register", {"reg.py": reg_py}, handler="reg.main_handler",
       env={"bucket": BUCKET, "region": REGION}, timeout=10, role=role("seed-role"))
conn = "CQ1RaJAf4vzaVAkNUdHLZA=="
event = {"requestContext": {"serviceName": "chat", "path": "/ws", "httpMethod": "GET",
                            "requestId": "c6af9ac6-1", "sourceIp": "127.0.0.1",
                            "stage": "release", "websocketEnable": True},
         "websocket": {"action": "connecting", "secConnectionID": conn}}
r = invoke(c, "chat-register", event)
assert "event is {" in r["Log"], r["Log"]
if have_cos:
    v = ret(r)
    assert v == {"errNo": 0, "errMsg": "ok",
                 "websocket": {"action": "connecting", "secConnectionID": conn}}, v
    obj = cos().get_object(Bucket=BUCKET, Key=conn)
    assert obj["Body"].get_raw_stream().read() == b"websocket"
else:
    # Imported and ran unmodified; only the skeleton COS's 404 failed it.
    err = json.loads(r["ErrMsg"])
    assert "CosServiceError" in err["errorMessage"] or "404" in r["Log"], r
    assert "import" not in err["errorMessage"].lower(), err
print("runtime seed ok")
