"""Unit tests for the chat functions (code/), against the fakes in conftest.py.

Run: python3 -m pytest tests
"""
import base64
import json

import chat
import pytest
import register
import registry
from conftest import cid

A, B, C = cid(1), cid(2), cid(3)


def test_bucket_gets_the_appid_suffix():
    assert registry.BUCKET == "testchat-registry-1250000000"


# register ---------------------------------------------------------------------------------


def test_register_accepts_a_gateway_id(cloud):
    reply = cloud.connect(A)
    assert reply == {"errNo": 0, "errMsg": "ok", "websocket": {"action": "connecting", "secConnectionID": A}}
    assert cloud.body(A) == {"name": chat.default_name(A), "joined": False}


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"websocket": {"action": "connecting"}},
        {"websocket": {"action": "connecting", "secConnectionID": ""}},
        {"websocket": {"action": "connecting", "secConnectionID": None}},
    ],
)
def test_register_refuses_a_missing_id(cloud, event):
    reply = register.main_handler(event, None)
    assert reply["errNo"] != 0 and isinstance(reply["errNo"], int)
    assert "missing" in reply["errMsg"]
    assert cloud.keys() == set()


@pytest.mark.parametrize("bad", [12345, ["x"], "has space==", "../../etc/passwd", "a" * 200, "short", "abc\n=="])
def test_register_refuses_a_malformed_id(cloud, bad):
    reply = register.main_handler({"websocket": {"action": "connecting", "secConnectionID": bad}}, None)
    assert reply["errNo"] != 0 and isinstance(reply["errNo"], int)
    assert "malformed" in reply["errMsg"]
    assert "websocket" not in reply
    assert cloud.keys() == set()


def test_register_refuses_when_the_registry_cannot_be_written(cloud, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("COS is down")

    monkeypatch.setattr(cloud.cos, "put_object", boom)
    reply = cloud.connect(A)
    assert reply["errNo"] not in (0, None)
    assert A not in cloud.open


# hello ------------------------------------------------------------------------------------


def test_hello_welcomes_the_sender_and_announces_join_to_the_others(cloud):
    for c in (A, B, C):
        cloud.connect(c)
    cloud.hello(A, "  Alice \n ")
    [welcome] = cloud.frames(A)
    assert welcome["type"] == "welcome"
    assert welcome["you"] == A and welcome["name"] == "Alice" and welcome["online"] == 3
    assert isinstance(welcome["ts"], int)
    for other in (B, C):
        [join] = cloud.frames(other)
        assert join["type"] == "join"
        assert join["from"] == A and join["name"] == "Alice" and join["online"] == 3
        assert "was" not in join
    assert cloud.body(A) == {"name": "Alice", "joined": True}


def test_hello_again_with_the_same_name_is_not_announced_a_rename_is(cloud):
    cloud.connect(A)
    cloud.connect(B)
    cloud.hello(A, "Alice")
    cloud.clear()
    cloud.hello(A, "Alice")
    assert [f["type"] for f in cloud.frames(A)] == ["welcome"]
    assert cloud.frames(B) == []
    cloud.hello(A, "Alicia")
    [join] = cloud.frames(B)
    assert join["name"] == "Alicia" and join["was"] == "Alice"


def test_names_are_cleaned(cloud):
    cloud.connect(A)
    cloud.hello(A, "Bob\x00\x1b[31m\u202e " + "x" * 100)
    name = cloud.frames(A, "welcome")[0]["name"]
    assert name.startswith("Bob[31m ") and len(name) == chat.MAX_NAME
    assert not any(ord(ch) < 32 or ch == "\u202e" for ch in name)
    cloud.hello(A, "   ")
    assert cloud.frames(A, "welcome")[-1]["name"] == chat.default_name(A)
    assert chat.default_name(A).startswith("guest-") and chat.default_name(A) != chat.default_name(B)


# messages ---------------------------------------------------------------------------------


def test_a_json_message_reaches_everyone_including_the_sender(cloud):
    for c in (A, B, C):
        cloud.connect(c)
    cloud.send(A, json.dumps({"type": "message", "name": "Alice", "text": "hi <b>all</b> \u4f60\u597d"}))
    for c in (A, B, C):
        [m] = cloud.frames(c)
        assert m["type"] == "message"
        assert m["from"] == A and m["name"] == "Alice"
        assert m["text"] == "hi <b>all</b> \u4f60\u597d"
        assert m["online"] == 3 and isinstance(m["ts"], int) and m["ts"] > 1_600_000_000_000


def test_a_plain_text_frame_is_a_message_from_the_name_said_in_hello(cloud):
    cloud.connect(A)
    cloud.connect(B)
    cloud.send(B, "no hello yet")
    assert [m["name"] for m in cloud.frames(A)] == [chat.default_name(B)]
    cloud.hello(B, "Bea")
    cloud.clear()
    cloud.send(B, "hello from wscat")
    for c in (A, B):
        [m] = cloud.frames(c)
        assert (m["type"], m["from"], m["name"], m["text"]) == ("message", B, "Bea", "hello from wscat")


@pytest.mark.parametrize("text", ['{"not": "typed"}', "[1, 2]", '"quoted"', "{broken json", "42"])
def test_text_that_is_not_a_typed_json_object_is_sent_as_is(cloud, text):
    cloud.connect(A)
    cloud.send(A, text)
    [m] = cloud.frames(A)
    assert m["type"] == "message" and m["text"] == text


def test_the_sender_gets_its_message_even_if_the_registry_missed_it(cloud):
    cloud.connect(A)
    cloud.open.add(B)  # admitted, but not (yet) listed
    cloud.send(B, "hi")
    assert cloud.frames(B, "message")[0]["online"] == 2
    assert len(cloud.frames(A, "message")) == 1


@pytest.mark.parametrize(
    "data, data_type, code",
    [
        ('{"type":"message","text":"   "}', "text", "empty"),
        ("", "text", "empty"),
        ('{"type":"message","text":5}', "text", "empty"),
        ("x" * (chat.MAX_TEXT + 1), "text", "too-long"),
        ('{"type":"dance"}', "text", "unknown-type"),
        ('{"type":"binary"}', "text", "unknown-type"),
        (base64.b64encode(b"\x00\x01").decode(), "binary", "binary"),
    ],
)
def test_bad_frames_get_an_error_for_the_sender_only(cloud, data, data_type, code):
    cloud.connect(A)
    cloud.connect(B)
    cloud.send(A, data, data_type)
    [e] = cloud.frames(A)
    assert e["type"] == "error" and e["code"] == code and e["text"]
    assert cloud.frames(B) == []


def test_ping_is_answered_with_pong_without_listing(cloud):
    cloud.connect(A)
    cloud.send(A, '{"type":"ping"}')
    assert [f["type"] for f in cloud.frames(A)] == ["pong"]
    assert cloud.cos.list_calls == 0


# cleanup ----------------------------------------------------------------------------------


def test_cleanup_forgets_the_connection_and_tells_the_others(cloud):
    for c in (A, B, C):
        cloud.connect(c)
    cloud.hello(A, "Alice")
    cloud.clear()
    assert cloud.close(A)["errNo"] == 0
    assert registry._key(A) not in cloud.keys()
    assert cloud.frames(A) == []
    for other in (B, C):
        [leave] = cloud.frames(other)
        assert (leave["type"], leave["from"], leave["name"], leave["online"]) == ("leave", A, "Alice", 2)
    cloud.clear()
    cloud.send(B, "anyone?")
    assert cloud.frames(B)[0]["online"] == 2


def test_cleanup_of_the_last_connection_pushes_nothing(cloud):
    cloud.connect(A)
    cloud.close(A)
    assert cloud.keys() == set() and cloud.pushes == []


# the registry -----------------------------------------------------------------------------


def test_the_listing_pages_past_1000_keys(cloud):
    many = [cid(n) for n in range(10, 2510)]
    for c in many:
        cloud.connect(c)
    cloud.cos.list_calls = 0
    cloud.send(many[0], "hello, all 2500")
    assert cloud.cos.list_calls == 3
    assert all(len(cloud.frames(c)) == 1 for c in many)
    assert cloud.frames(many[-1])[0]["online"] == 2500


def test_ids_starting_with_a_slash_survive(cloud):
    slash = base64.b64encode(b"\xfc" + b"slash-connect!!").decode()
    plus = base64.b64encode(b"\xfb\xef" + b"plus-connect!!").decode()
    assert slash.startswith("/") and "+" in plus
    for c in (A, slash, plus):
        assert cloud.connect(c)["errNo"] == 0
    assert {c.id for c in registry.connections()} == {A, slash, plus}
    cloud.send(A, "reach everyone")
    assert len(cloud.frames(slash)) == 1 and len(cloud.frames(plus)) == 1
    cloud.close(slash)
    assert {c.id for c in registry.connections()} == {A, plus}


def test_gone_ids_are_removed_only_past_the_margin(cloud):
    stale, fresh = cid(50), cid(51)
    for c in (A, stale, fresh):
        cloud.connect(c)
    cloud.open -= {stale, fresh}  # both answer "connection not found"
    cloud.age(stale, chat.GONE_MARGIN_S + 60)
    cloud.age(fresh, 2)  # registered, the gateway has not admitted it yet
    cloud.age(A, chat.GONE_MARGIN_S + 600)  # an old, live connection stays
    cloud.send(A, "sweep")
    assert {c.id for c in registry.connections()} == {A, fresh}
    cloud.open.add(fresh)  # now admitted: it gets the next message
    cloud.send(A, "welcome aboard")
    assert [m["text"] for m in cloud.frames(fresh)] == ["welcome aboard"]


def test_last_modified_parsing():
    assert registry._epoch("2026-11-25T19:36:13.000Z") == 1795635373
    assert registry._epoch("2026-11-25T19:36:13Z") == 1795635373
    assert registry._epoch("garbage") == 0 and registry._epoch(None) == 0


# failures ---------------------------------------------------------------------------------


def test_a_registry_failure_in_transport_answers_an_error_instead_of_dropping_the_socket(cloud, monkeypatch, capsys):
    cloud.connect(A)

    def boom(*args, **kwargs):
        raise OSError("COS is down")

    monkeypatch.setattr(cloud.cos, "list_objects", boom)
    assert cloud.send(A, "hi") == "ok"  # no exception reaches the gateway
    [e] = cloud.frames(A)
    assert e["type"] == "error" and e["code"] == "internal"
    assert "COS is down" in capsys.readouterr().err  # the traceback is in the function's log


def test_cleanup_forgets_the_connection_even_if_its_object_cannot_be_read(cloud, monkeypatch):
    cloud.connect(A)
    cloud.connect(B)

    def boom(*args, **kwargs):
        raise OSError("timeout")

    monkeypatch.setattr(cloud.cos, "get_object", boom)
    cloud.close(A)
    assert {c.id for c in registry.connections()} == {B}
    [leave] = cloud.frames(B)
    assert leave["name"] == chat.default_name(A) and leave["online"] == 1
