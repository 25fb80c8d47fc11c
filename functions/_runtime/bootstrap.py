"""chatstack local-cloud function worker (Python), worker protocol version 3.

A worker is started in one of two ways (src/localcloud/runtime/):
- forked by the fork server (`python3 bootstrap.py --zygote`, described further down), the
  default: the COS SDK and requests are imported once and shared, a worker is ready in ms;
- as its own interpreter (`python3 bootstrap.py`), when the function's environment sets
  variables that act at interpreter start (PYTHON*, LD_*) or the fork server is unavailable.
  The environment is then the function's plus these private variables, removed before user
  code runs:

    CHATSTACK_WORKER_SOCKET  path of a Unix socket the host listens on, for this worker only
    CHATSTACK_WORKER_NONCE   a random string the hello must echo (proves which worker connected)
    CHATSTACK_HANDLER        the function's Handler, `file.function` (`src/app.main` is allowed)
    CHATSTACK_COS_ADDR       `IP:PORT` of the local cloud, where COS and API 3.0 are served

Protocol (mirrored in src/localcloud/runtime/protocol.rs; bump PROTOCOL_VERSION in both):
- Framing: every message is a 4-byte big-endian length followed by that many bytes of UTF-8
  JSON (one object).
- The worker opens three connections to its socket, each starting with a hello frame
      {"type": "hello", "version": 3, "stream": "control" | "stdout" | "stderr",
       "pid": <int>, "nonce": "<nonce>", "python": "3.11.7"}
  "control" carries the frames below. After their hello, "stdout" and "stderr" carry the raw
  bytes the function writes to file descriptors 1 and 2 (they are dup2'ed there, so child
  processes write to them too): the function's logs, read line by line by the host. The
  protocol never travels on them.
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
       "duration_ms": <float>, "cpu_ms": <float>, "mem": <bytes>}
      {"type": "result", "id": "<request id>", "ok": false,
       "error": {"kind": "UserException" | "ImportError", "message": "...", "traceback": "..."},
       "duration_ms": <float>, "cpu_ms": <float>, "mem": <bytes>}
  (cpu_ms: the worker process's CPU time during the handler, which the host uses to size pools.)
  Before the result frame the worker flushes stdout and stderr and writes, on each of them, the
  end marker "\x1e<id>\x1e\n": once the host has read both markers it has all of the
  invocation's output.
- The host ends a worker by closing the socket (the worker exits) or by killing its process
  group (timeouts). A worker that dies mid-invocation is reported as a crash by the host.

Before importing user code, a hook makes the official COS SDK (`qcloud_cos`, and the
`qcloud_cos_v5` name SCF's older Python images provide) talk to the local cloud in its IP/Port
mode, with the function's temporary credentials when the code passes none. Another makes the
API 3.0 Python SDK (`tencentcloud-sdk-python`, which SCF's Python images preinstall and code may
ship; tencentserverless's `scf.invoke` uses it) connect to the local cloud over plain HTTP when
its endpoint is a `*.tencentcloudapi.com` name (`scf.internal.tencentcloudapi.com`, SCF's
in-function endpoint, or `scf.tencentcloudapi.com`): only the connection moves, the `Host` it
sends and signs stays that name. It is a `sys.meta_path` finder that patches
`tencentcloud.common.http.request.ApiRequest._handle_host` when that module is first imported,
so nothing is imported up front. Standard library only.
"""

import gc
import importlib
import inspect
import json
import os
import platform
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

PROTOCOL_VERSION = 3


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


_TC_REQUEST = "tencentcloud.common.http.request"


def _patch_tencentcloud(module, addr):
    """`ApiRequest._handle_host` (the URL the SDK connects to) made `http://ADDR` for
    `*.tencentcloudapi.com` endpoints; the `Host` header is set apart from it and unchanged."""
    api_request = getattr(module, "ApiRequest", None)
    original = getattr(api_request, "_handle_host", None)
    if original is None or getattr(original, "_chatstack_hook", False):
        return
    from urllib.parse import urlsplit

    def _handle_host(self, host):
        name = (urlsplit(host if "://" in host else "//" + host).hostname or "").rstrip(".")
        if name == "tencentcloudapi.com" or name.endswith(".tencentcloudapi.com"):
            return "http://" + addr
        return original(self, host)

    _handle_host._chatstack_hook = True
    _handle_host.__wrapped__ = original
    api_request._handle_host = _handle_host


class _TencentCloudFinder:
    """Finds `tencentcloud.common.http.request` with the other finders, then patches it once
    it has run (wherever it comes from: the code directory or the interpreter's packages)."""

    def __init__(self, addr):
        self.addr = addr

    def find_spec(self, name, path, target=None):
        if name != _TC_REQUEST:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader, addr = spec.loader, self.addr
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def patched_exec(module):
            exec_module(module)
            _patch_tencentcloud(module, addr)

        loader.exec_module = patched_exec
        return spec


def _install_tencentcloud_hook(addr):
    """Points the API 3.0 SDK's connections at the local cloud (see the module docstring)."""
    if _TC_REQUEST in sys.modules:
        _patch_tencentcloud(sys.modules[_TC_REQUEST], addr)
    elif not any(isinstance(f, _TencentCloudFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TencentCloudFinder(addr))


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


def _hello(sock, nonce, stream):
    _send(sock, {"type": "hello", "version": PROTOCOL_VERSION, "stream": stream,
                 "pid": os.getpid(), "nonce": nonce, "python": platform.python_version()})


def _connect(sock_path, nonce, stream):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    _hello(sock, nonce, stream)
    return sock


def _attach(sock_path, nonce):
    """The control connection; stdout and stderr become connections of their own (fds 1, 2)."""
    control = _connect(sock_path, nonce, "control")
    for stream, fd in (("stdout", 1), ("stderr", 2)):
        try:
            getattr(sys, stream).flush()
        except Exception:
            pass
        out = _connect(sock_path, nonce, stream)
        os.dup2(out.fileno(), fd)
        out.close()
    return control


def _name_process():
    """`ps`/`top` show the function's name (first 15 bytes) instead of `python3`. Best effort."""
    name = os.environ.get("SCF_FUNCTIONNAME", "")
    if name:
        try:
            with open("/proc/self/comm", "w") as f:
                f.write(name.encode("utf-8")[:15].decode("utf-8", "ignore"))
        except OSError:
            pass


def _serve(sock, handler_spec, cos_addr):
    """Loads the handler (the init phase), says ready, then runs invocations until EOF."""
    _name_process()
    # Initialisation: bounded by the function's InitTimeout, not by its invocation Timeout.
    started = time.perf_counter()
    _install_cos_hook(cos_addr)
    _install_tencentcloud_hook(cos_addr)
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
        cpu_started = time.process_time()
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
        reply["cpu_ms"] = (time.process_time() - cpu_started) * 1000.0
        reply["mem"] = _mem_bytes()
        _flush_with_marker(request_id)
        _send(sock, reply)


def _drop_own_dir():
    # Python put this file's directory first on sys.path; user code (PYTHONPATH) goes first and
    # our alias directory last, so anything the code or the site ships wins.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]


def main():
    """A worker started as its own interpreter (`python3 bootstrap.py`)."""
    sock_path = os.environ.pop("CHATSTACK_WORKER_SOCKET")
    nonce = os.environ.pop("CHATSTACK_WORKER_NONCE")
    handler_spec = os.environ.pop("CHATSTACK_HANDLER")
    cos_addr = os.environ.pop("CHATSTACK_COS_ADDR")
    _drop_own_dir()
    sock = _attach(sock_path, nonce)
    _serve(sock, handler_spec, cos_addr)


# ---------------------------------------------------------------------------------------------
# The fork server ("zygote"): `python3 bootstrap.py --zygote`.
#
# One per local cloud. It imports the packages every function gets (PRELOAD: the COS SDK and
# requests, ~170 ms and ~30 MiB) once, then forks a worker per request. A forked worker shares
# those pages copy-on-write and is ready in milliseconds; it then does what a fresh interpreter
# would: takes the function's environment, working directory and sys.path, and imports the
# handler's module itself (the function's own initialisation runs in every worker, as in SCF).
# If the function's code or PYTHONPATH ships its own copy of a preloaded package, every
# preloaded third-party module is forgotten in that worker, so the code's copies are imported.
#
# Zygote protocol, on the socket in CHATSTACK_ZYGOTE_SOCKET (same framing):
#   zygote -> host: {"type": "hello", "version": 3, "stream": "zygote", "pid", "nonce",
#                    "python", "preloaded": [top-level names], "preload_ms"}
#   host -> zygote: {"type": "fork", "id": <int>, "socket": <worker socket path>,
#                    "nonce": <worker nonce>, "handler", "cos_addr", "code_dir",
#                    "env": {<the function's complete environment>}}
#   zygote -> host: {"type": "forked", "id", "pid"} | {"type": "fork_failed", "id", "message"}
#   zygote -> host: {"type": "exited", "pid", "status": <the wait status, as waitpid gives it>}
#   host -> zygote: {"type": "kill", "pid"}   (SIGKILL to the worker's process group)
# A forked worker then speaks the worker protocol above on its own socket. When the host's end
# closes (the local cloud stopped, or died), the zygote kills every worker it forked and exits.
# ---------------------------------------------------------------------------------------------

PRELOAD = ("qcloud_cos", "requests")


def _third_party(names):
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    return sorted(n for n in names if n not in stdlib and n not in sys.builtin_module_names
                  and not n.startswith("_"))


def _location(module):
    spec = getattr(module, "__spec__", None)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return tuple(os.path.abspath(p) for p in spec.submodule_search_locations)
    return os.path.abspath(spec.origin) if spec.origin else None


def _shadowed(preloaded):
    """Whether the worker's sys.path finds another copy of a preloaded top-level package."""
    from importlib.machinery import PathFinder

    for name in preloaded:
        module = sys.modules.get(name)
        if module is None:
            continue
        spec = PathFinder.find_spec(name, sys.path)
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found = tuple(os.path.abspath(p) for p in spec.submodule_search_locations)
        else:
            found = os.path.abspath(spec.origin) if spec.origin else None
        if found != _location(module):
            return True
    return False


def _forget(preloaded):
    for name in list(sys.modules):
        if name.split(".", 1)[0] in preloaded:
            del sys.modules[name]


def _forked_worker(zsock, wakeup, req, preloaded):
    """In the child of a fork: becomes the function's worker. Never returns."""
    code = 0
    try:
        # What a worker started as its own interpreter would have: default signal handling
        # (Ctrl-C semantics included) and an argv without the fork server's flag.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv[1:] = []
        zsock.close()
        for fd in wakeup:
            os.close(fd)
        os.setpgid(0, 0)  # its own group, so a timeout kills whatever the function starts too
        env = req["env"]
        os.environ.clear()
        os.environ.update(env)
        os.chdir(req["code_dir"])
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        # New entries get finders of their own; invalidating the others' caches would only
        # re-list (and un-share) the directories the fork server already read.
        sys.path[:0] = [os.path.abspath(p) for p in extra]
        if _shadowed(preloaded):
            _forget(preloaded)
        sock = _attach(req["socket"], req["nonce"])
        _serve(sock, req["handler"], req["cos_addr"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code)


def zygote():
    sock_path = os.environ.pop("CHATSTACK_ZYGOTE_SOCKET")
    nonce = os.environ.pop("CHATSTACK_ZYGOTE_NONCE")
    cos_addr = os.environ.pop("CHATSTACK_COS_ADDR")
    _drop_own_dir()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when we end

    started = time.perf_counter()
    before = set(sys.modules)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    _install_cos_hook(cos_addr)
    preloaded = _third_party({n.split(".", 1)[0] for n in set(sys.modules) - before})
    preload_ms = (time.perf_counter() - started) * 1000.0
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()  # keeps the collector from touching (and un-sharing) the preloaded pages

    zsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    zsock.connect(sock_path)
    _send(zsock, {"type": "hello", "version": PROTOCOL_VERSION, "stream": "zygote",
                  "pid": os.getpid(), "nonce": nonce, "python": platform.python_version(),
                  "preloaded": preloaded, "preload_ms": preload_ms})

    children = set()
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(zsock, selectors.EVENT_READ)
    sel.register(rfd, selectors.EVENT_READ)

    def reap():
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            _send(zsock, {"type": "exited", "pid": pid, "status": status})

    try:
        while True:
            for key, _ in sel.select():
                if key.fileobj is zsock:
                    msg = _recv(zsock)
                    if msg is None:
                        return
                    kind = msg.get("type")
                    if kind == "fork":
                        msg["cos_addr"] = msg.get("cos_addr") or cos_addr
                        sys.stdout.flush()
                        sys.stderr.flush()
                        try:
                            pid = os.fork()
                        except OSError as e:
                            _send(zsock, {"type": "fork_failed", "id": msg["id"], "message": str(e)})
                            continue
                        if pid == 0:
                            sel.close()
                            _forked_worker(zsock, (rfd, wfd), msg, preloaded)
                        children.add(pid)
                        _send(zsock, {"type": "forked", "id": msg["id"], "pid": pid})
                    elif kind == "kill":
                        pid = msg.get("pid")
                        if pid in children:
                            for kill in (lambda: os.killpg(pid, signal.SIGKILL),
                                         lambda: os.kill(pid, signal.SIGKILL)):
                                try:
                                    kill()
                                except OSError:
                                    pass
                else:
                    try:
                        while os.read(rfd, 512):
                            pass
                    except (BlockingIOError, InterruptedError):
                        pass
                    reap()
    finally:
        # The host went away: nothing may outlive it.
        for pid in list(children):
            for kill in (lambda: os.killpg(pid, signal.SIGKILL),
                         lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    else:
        main()
