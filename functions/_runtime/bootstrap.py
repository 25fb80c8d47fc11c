"""chatstack local-cloud function worker (Python), worker protocol version 2.

The local cloud (src/localcloud/runtime/) starts one of these per warm worker, as
`python3 bootstrap.py`, with the function's environment (its variables, SCF's built-in ones and
temporary credentials) and three private variables that this file removes before user code runs:

    CHATSTACK_WORKER_SOCKET  path of a Unix socket the host listens on, for this worker only
    CHATSTACK_WORKER_NONCE   a random string the hello must echo (proves which worker connected)
    CHATSTACK_HANDLER        the function's Handler, `file.function` (`src/app.main` is allowed)
    CHATSTACK_COS_ADDR       `IP:PORT` of the local cloud, where COS is served

Protocol (mirrored in src/localcloud/runtime/protocol.rs; bump PROTOCOL_VERSION in both):
- Framing: every message is a 4-byte big-endian length followed by that many bytes of UTF-8
  JSON (one object). The function's stdout/stderr are NEVER used for the protocol: they are the
  function's logs, read line by line by the host.
- worker -> host, once, right after connecting (before any user code is loaded):
      {"type": "hello", "version": 2, "pid": <int>, "nonce": "<nonce>", "python": "3.11.7"}
- worker -> host, once, after initialisation (the COS hook and the handler's module imported):
      {"type": "ready", "ok": true, "init_ms": <float>}
      {"type": "ready", "ok": false, "init_ms": <float>,
       "error": {"kind": "ImportError", "message": "...", "traceback": "..."}}
  On an import error the worker stays up and answers every invocation with that error (as
  SCF does). The host waits for "ready" for the function's InitTimeout, separately from the
  invocation's Timeout, and kills the worker if it does not come in time. What initialisation
  prints goes to the log of the worker's first invocation.
- host -> worker, one at a time (a worker runs one invocation at a time):
      {"type": "invoke", "id": "<request id>", "event": <any JSON>, "context": {<SCF context>}}
- worker -> host, after the handler finished:
      {"type": "result", "id": "<request id>", "ok": true,  "value": <return value>,
       "duration_ms": <float>, "mem": <bytes>}
      {"type": "result", "id": "<request id>", "ok": false,
       "error": {"kind": "UserException" | "ImportError", "message": "...", "traceback": "..."},
       "duration_ms": <float>, "mem": <bytes>}
  Before the result frame the worker flushes stdout and stderr and writes, on each of them, the
  end marker "\x1e<id>\x1e\n": once the host has read both markers it has all of the
  invocation's output.
- The host ends a worker by closing the socket (the worker exits) or by killing its process
  group (timeouts). A worker that dies mid-invocation is reported as a crash by the host.

Before importing user code, a hook makes the official COS SDK (`qcloud_cos`, and the
`qcloud_cos_v5` name SCF's older Python images provide) talk to the local cloud in its IP/Port
mode, with the function's temporary credentials when the code passes none. Standard library only.
"""

import importlib
import inspect
import json
import os
import platform
import socket
import struct
import sys
import time
import traceback

PROTOCOL_VERSION = 2


def _send(sock, msg):
    data = json.dumps(msg, separators=(",", ":")).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf.extend(chunk)
    return bytes(buf)


def _recv(sock):
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    body = _recv_exact(sock, length)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def _mem_bytes():
    """Current resident set size (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except Exception:
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except Exception:
            return 0


def _install_cos_hook(cos_addr):
    """Wraps qcloud_cos.CosConfig.__init__: IP/Port mode to the local cloud, env credentials."""
    try:
        from qcloud_cos import cos_client
    except Exception:
        return  # the SDK is not installed: nothing to point anywhere
    config = cos_client.CosConfig
    original = config.__init__
    if getattr(original, "_chatstack_hook", False):
        return
    ip, _, port = cos_addr.rpartition(":")
    signature = inspect.signature(original)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        a = bound.arguments
        has_keys = any(
            a.get(x) and a.get(y)
            for x, y in (("SecretId", "SecretKey"), ("Secret_id", "Secret_key"), ("Access_id", "Access_key"))
        )
        if not has_keys and not a.get("CredentialInstance") and not a.get("Anonymous"):
            # As in SCF, code that passes no keys runs with the execution role's credentials.
            a["SecretId"] = os.environ.get("TENCENTCLOUD_SECRETID")
            a["SecretKey"] = os.environ.get("TENCENTCLOUD_SECRETKEY")
            if not a.get("Token"):
                a["Token"] = os.environ.get("TENCENTCLOUD_SESSIONTOKEN")
        if not a.get("Region") and not a.get("Endpoint"):
            a["Region"] = os.environ.get("TENCENTCLOUD_REGION")
        # IP/Port mode: connect to the local cloud, keep Host = {bucket}.cos.{region}.myqcloud.com.
        if a.get("Region"):
            a["Endpoint"] = None
        a["Domain"] = None
        a["EnableOldDomain"] = True
        a["IP"] = ip
        a["Port"] = int(port)
        a["Scheme"] = "http"
        original(*bound.args, **bound.kwargs)

    __init__._chatstack_hook = True
    __init__.__wrapped__ = original
    __init__.__doc__ = original.__doc__
    config.__init__ = __init__


def _alias_cos_v5():
    """`qcloud_cos_v5` (SCF's older built-in name) as an alias of the installed `qcloud_cos`."""
    try:
        importlib.import_module("qcloud_cos_v5")
        return  # a real one exists (shipped with the code, or installed): leave it
    except ImportError:
        pass
    try:
        import qcloud_cos
    except Exception:
        return
    sys.modules["qcloud_cos_v5"] = qcloud_cos
    for name, module in list(sys.modules.items()):
        if name.startswith("qcloud_cos."):
            sys.modules["qcloud_cos_v5" + name[len("qcloud_cos"):]] = module


def _user_traceback(exc):
    """The traceback without this file's and importlib's frames (SCF shows the user's only)."""
    te = traceback.TracebackException.from_exception(exc)
    here = os.path.abspath(__file__)

    def keep(frame):
        name = frame.filename
        return not (os.path.abspath(name) == here or name.startswith("<frozen importlib")
                    or name.endswith(os.path.join("importlib", "__init__.py")))

    te.stack = traceback.StackSummary.from_list([f for f in te.stack if keep(f)])
    return "".join(te.format())


def _load(handler_spec):
    """(handler, None) or (None, error dict), with SCF-like messages."""
    module_path, _, func_name = handler_spec.rpartition(".")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        return None, {
            "kind": "ImportError",
            "message": "Failed to import module '%s': %s" % (module_name, e),
            "traceback": _user_traceback(e),
        }
    handler = getattr(module, func_name, None)
    if handler is None or not callable(handler):
        return None, {
            "kind": "ImportError",
            "message": "module '%s' has no attribute '%s'" % (module_name, func_name),
            "traceback": "",
        }
    return handler, None


def _flush_with_marker(request_id):
    marker = ("\x1e%s\x1e\n" % request_id).encode("utf-8")
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        try:
            stream.flush()
        except Exception:
            pass
        try:
            os.write(fd, marker)
        except Exception:
            pass


def main():
    sock_path = os.environ.pop("CHATSTACK_WORKER_SOCKET")
    nonce = os.environ.pop("CHATSTACK_WORKER_NONCE")
    handler_spec = os.environ.pop("CHATSTACK_HANDLER")
    cos_addr = os.environ.pop("CHATSTACK_COS_ADDR")

    # Python put this file's directory first on sys.path; user code (PYTHONPATH) goes first and
    # our alias directory last, so anything the code or the site ships wins.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    _send(sock, {"type": "hello", "version": PROTOCOL_VERSION, "pid": os.getpid(),
                 "nonce": nonce, "python": platform.python_version()})

    # Initialisation: bounded by the function's InitTimeout, not by its invocation Timeout.
    started = time.perf_counter()
    _install_cos_hook(cos_addr)
    _alias_cos_v5()
    handler, load_error = _load(handler_spec)
    ready = {"type": "ready", "ok": load_error is None,
             "init_ms": (time.perf_counter() - started) * 1000.0}
    if load_error is not None:
        ready["error"] = load_error
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    _send(sock, ready)

    while True:
        msg = _recv(sock)
        if msg is None:
            break
        if msg.get("type") != "invoke":
            continue
        request_id = msg["id"]
        started = time.perf_counter()
        if load_error is not None:
            sys.stderr.write(load_error["message"] + "\n")
            if load_error["traceback"]:
                sys.stderr.write(load_error["traceback"])
            reply = {"ok": False, "error": load_error}
        else:
            try:
                value = handler(msg.get("event"), msg.get("context"))
                try:
                    json.dumps(value)
                    reply = {"ok": True, "value": value}
                except (TypeError, ValueError) as e:
                    reply = {"ok": False, "error": {
                        "kind": "UserException",
                        "message": "the return value is not JSON serializable: %s" % e,
                        "traceback": ""}}
            except Exception as e:
                tb = _user_traceback(e)
                sys.stderr.write(tb)
                reply = {"ok": False, "error": {
                    "kind": "UserException",
                    "message": "%s: %s" % (type(e).__name__, e),
                    "traceback": tb}}
        reply["type"] = "result"
        reply["id"] = request_id
        reply["duration_ms"] = (time.perf_counter() - started) * 1000.0
        reply["mem"] = _mem_bytes()
        _flush_with_marker(request_id)
        _send(sock, reply)


if __name__ == "__main__":
    main()
