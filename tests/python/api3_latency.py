"""The latency profile's round trip is applied to the action it names, not to others."""

import sys
import time

from api3_common import call, cam, scf

want_ms = int(sys.argv[1])
t = time.time()
call(cam(), "GetUserAppId", {})
slow = (time.time() - t) * 1000
t = time.time()
call(scf(), "ListFunctions", {})
fast = (time.time() - t) * 1000
assert slow >= want_ms, slow
assert fast < want_ms / 2, fast
print("latency ok", round(slow), round(fast))
