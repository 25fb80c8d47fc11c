"""A restart in the middle of Creating: the state is kept and still settles on time.
argv: create | check"""

import sys

from api3_common import call, function_params, scf, wait_status

c = scf()
if sys.argv[1] == "create":
    call(c, "CreateFunction", function_params("chat-midway"))
    assert call(c, "GetFunction", {"FunctionName": "chat-midway"})["Status"] == "Creating"
else:
    assert wait_status(c, "chat-midway", "Active") == ["Creating", "Active"]
print("midway ok")
