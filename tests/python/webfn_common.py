"""The echo Web function the webfn_*.py scripts share: an scf_bootstrap running Python with
the pinned `websockets` library shipped in the code zip, created through the official SDK and
given a Function URL."""

import base64
import io
import json
import pathlib
import zipfile

import websockets

from api3_common import call, function_params, wait_status

SERVER = r'''
import asyncio, json, os
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

PORT = int(os.environ.get("CHATSTACK_PORT", "9000"))
INSTANCE = os.environ.get("CHATSTACK_INSTANCE_ID", "cloud")


def plain_http(connection, request):
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    body = json.dumps({"instance": INSTANCE, "path": request.path,
                       "requestId": request.headers.get("X-Scf-Request-Id"),
                       "host": request.headers.get("Host")}).encode()
    print("http", request.path, "on", INSTANCE, flush=True)
    return Response(200, "OK", Headers([("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))]), body)


async def handler(ws):
    rid = ws.request.headers.get("X-Scf-Request-Id")
    print("open", rid, "on", INSTANCE, flush=True)
    async for msg in ws:
        if msg == "who":
            await ws.send(json.dumps({"instance": INSTANCE, "requestId": rid}))
        elif msg == "bye":
            await ws.close(4000, "the server says bye")
        else:
            await ws.send(msg)


async def main():
    async with serve(handler, "0.0.0.0", PORT, process_request=plain_http,
                     ping_interval=None, max_size=None) as server:
        await server.serve_forever()

asyncio.run(main())
'''


def code_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        boot = zipfile.ZipInfo("scf_bootstrap")
        boot.external_attr = 0o755 << 16
        z.writestr(boot, "#!/bin/bash\nexec python3 -u server.py\n")
        z.writestr("server.py", SERVER)
        # The pinned library ships in the code, as a user would ship it to the cloud.
        pkg = pathlib.Path(websockets.__file__).parent
        for f in sorted(pkg.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, "websockets/" + f.relative_to(pkg).as_posix())
    return base64.b64encode(buf.getvalue()).decode()



def create_echo(c, name, idle=5, timeout=10, max_concurrency=2):
    """Creates the echo function `name` with a NONE Function URL; returns (trigger name,
    NetConfig)."""
    params = function_params(name, Type="HTTP", Code={"ZipFile": code_zip()}, Timeout=timeout,
                             ProtocolType="WS", ProtocolParams={"WSParams": {"IdleTimeOut": idle}},
                             InstanceConcurrencyConfig={"DynamicEnabled": "FALSE",
                                                        "MaxConcurrency": max_concurrency})
    params.pop("Handler")
    call(c, "CreateFunction", params)
    wait_status(c, name, "Active")
    desc = json.dumps({"AuthType": "NONE",
                       "NetConfig": {"EnableIntranet": False, "EnableExtranet": True}})
    trigger = call(c, "CreateTrigger", {"FunctionName": name, "Type": "http",
                                        "TriggerName": "placeholder", "TriggerDesc": desc})
    listed = call(c, "ListTriggers", {"FunctionName": name})["Triggers"]
    assert listed[0]["TriggerName"] == trigger["TriggerInfo"]["TriggerName"], listed
    return trigger["TriggerInfo"]["TriggerName"], json.loads(listed[0]["TriggerDesc"])["NetConfig"]
