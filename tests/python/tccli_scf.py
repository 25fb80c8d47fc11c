"""tccli (the official command line, from PyPI) against the local cloud: ListFunctions,
CreateFunction, GetFunction, Invoke, DeleteFunction with `--endpoint http://127.0.0.1:PORT
--region ap-guangzhou`, the keys in TENCENTCLOUD_SECRET_ID/KEY and a HOME of its own (so no
tccli profile is read or written). Without the scheme, `--endpoint 127.0.0.1:PORT`, tccli
speaks TLS to the plain-HTTP port and fails with the SDK's ClientNetworkError (an SSL error)."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from api3_common import ENDPOINT, SECRET_ID, SECRET_KEY, zip_b64

TCCLI = shutil.which("tccli")
assert TCCLI, "tccli is not on PATH (pip install -r tests/python/requirements.txt)"
HOME = tempfile.mkdtemp(prefix="tccli-home-")
ENV = {
    "PATH": os.environ["PATH"],
    "HOME": HOME,
    "TENCENTCLOUD_SECRET_ID": SECRET_ID,
    "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
}


def tccli(action, *args, endpoint="http://" + ENDPOINT):
    cmd = [TCCLI, "scf", action, "--endpoint", endpoint, "--region", "ap-guangzhou", *args]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)


def ok(action, *args):
    out = tccli(action, *args)
    assert out.returncode == 0, f"tccli scf {action}: {out.returncode}\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


name = "tccli-%d" % os.getpid()
before = ok("ListFunctions")
assert "RequestId" in before and isinstance(before["Functions"], list), before

code = json.dumps({"ZipFile": zip_b64({
    "index.py": "def main_handler(event, context):\n    return {'hello': event.get('who')}\n"})})
created = ok("CreateFunction", "--FunctionName", name, "--Runtime", "Python3.9",
             "--Handler", "index.main_handler", "--Code", code, "--Timeout", "3")
assert "RequestId" in created, created

deadline = time.time() + 30
while True:
    got = ok("GetFunction", "--FunctionName", name)
    if got["Status"] == "Active":
        break
    assert time.time() < deadline, got["Status"]
    time.sleep(0.2)
assert got["FunctionName"] == name and got["Runtime"] == "Python3.9", got
assert name in [f["FunctionName"] for f in ok("ListFunctions")["Functions"]]

invoked = ok("Invoke", "--FunctionName", name, "--ClientContext", json.dumps({"who": "tccli"}))
result = invoked["Result"]
assert result["InvokeResult"] == 0, invoked
assert json.loads(result["RetMsg"]) == {"hello": "tccli"}, invoked

missing = tccli("GetFunction", "--FunctionName", "nobody-" + name)
assert missing.returncode != 0 and "ResourceNotFound.Function" in missing.stdout + missing.stderr, missing

ok("DeleteFunction", "--FunctionName", name)

# No scheme: tccli's SDK makes it https:// and the handshake meets plain HTTP.
bare = tccli("ListFunctions", endpoint=ENDPOINT)
text = bare.stdout + bare.stderr
assert bare.returncode != 0 and "ClientNetworkError" in text and "SSL" in text, text

shutil.rmtree(HOME)
print("tccli ok")
