"""Importers on small exports written here, and (integration) on the public datasets in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.__main__ import main
from assistant.data.importers import greeting_only, import_logs
from assistant.data.labels import outside_engine, packaged_label_map, read_label_map
from assistant.data.validation import Issue, read_jsonl
from assistant.errors import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def read(path: Path) -> list[dict]:
    return [record for _, record in read_jsonl(path, [], "out")]


def test_messages_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "chats.jsonl"
    lines = [
        {"id": "a1", "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi, refund?"},
                                  {"role": "assistant", "content": "Sure."}], "metadata": {"intent": "refund_status"}},
        "not json at all",
        {"messages": [{"role": "wizard", "content": "x"}]},
        {"messages": [{"role": "user", "content": "   "}]},
        {"messages": []},
        {"messages": [{"role": "user", "content": "我的订单到哪了"}]},
    ]  # fmt: skip
    source.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    )
    report = import_logs("messages-jsonl", source, tmp_path / "out.jsonl")
    assert (report.rows_in, report.conversations_out, len(report.rejected)) == (6, 2, 4)
    assert [r.where for r in report.rejected] == ["line 2", "line 3", "line 4", "line 5"]
    assert "unknown role 'wizard'" in report.rejected[1].reason
    first, second = read(tmp_path / "out.jsonl")
    assert first["id"] == "a1" and first["turns"][0] == {
        "role": "customer", "text": "hi, refund?", "intent": "refund_status", "slots": {}
    }  # fmt: skip
    assert first["turns"][1]["role"] == "agent"
    assert second["language"] == "zh" and second["id"] == "chat-000006"


def test_reject_mode_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "chats.jsonl"
    source.write_text('{"messages": [{"role": "user", "content": "ok"}]}\n{broken\n')
    with pytest.raises(DataError, match="line 2"):
        import_logs("messages-jsonl", source, tmp_path / "out.jsonl", on_error="reject")
    assert not (tmp_path / "out.jsonl").exists()


def test_ticket_csv_orders_turns_by_time(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text(
        "conversation_id,role,text,timestamp,intent\n"
        "T1,agent,Your parcel ships today.,2026-05-01T10:05:00,\n"
        "T1,customer,where is my parcel?,2026-05-01T10:00:00Z,order_status\n"
        "T1,customer,thanks,2026-05-01T10:06:00,\n"
        "T2,robot,hello,2026-05-01T11:00:00,\n"
        "T2,customer,hello,yesterday,\n"
        ",customer,orphan,2026-05-01T11:00:00,\n"
        'T3,customer,"multi\nline, with comma",2026-05-02T09:00:00,complaint\n'
    )
    report = import_logs("ticket-csv", source, tmp_path / "out.jsonl")
    assert {r.where: r.reason for r in report.rejected} == {
        "line 5": "unknown role 'robot'",
        "line 6": "timestamp 'yesterday' is not ISO 8601",
        "line 7": "missing conversation_id",
    }
    t1, t3 = read(tmp_path / "out.jsonl")
    assert [t["text"] for t in t1["turns"]] == ["where is my parcel?", "Your parcel ships today.", "thanks"]
    assert t1["turns"][0]["intent"] == "order_status"
    assert t3["turns"][0]["text"] == "multi\nline, with comma"


def test_ticket_csv_missing_columns(tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("id,who,message\n1,customer,hi\n")
    with pytest.raises(DataError, match="lacks columns conversation_id, role, text, timestamp"):
        import_logs("ticket-csv", source, tmp_path / "out.jsonl")


def test_bitext_rows_and_slots(tmp_path: Path) -> None:
    source = tmp_path / "bitext.csv"
    source.write_text(
        "instruction,intent,category,entity_type,entity_value,response\n"
        "cancel order 123456 please,cancel_order,ORDER,order_id,123456,I can help cancel {{Order Number}}.\n"
        ",track_order,ORDER,,,Tracking info\n"
        "where is my stuff,,ORDER,,,x\n"
    )
    report = import_logs("bitext", source, tmp_path / "out.jsonl")
    assert [r.reason for r in report.rejected] == ["empty text", "missing intent"]
    (conversation,) = read(tmp_path / "out.jsonl")
    assert conversation["turns"][0]["slots"] == {"order_id": "123456"}
    assert conversation["turns"][0]["intent"] == "cancel_order"


def test_abcd_actions_attach_to_agent_turns_and_redaction(tmp_path: Path) -> None:
    source = tmp_path / "abcd.json"
    source.write_text(json.dumps([
        {"convo_id": 7, "scenario": {"personal": {"customer_name": "jo park", "username": "jpark1"},
                                     "flow": "storewide_query", "subflow": "shipping_cost"},
         "original": [["agent", "Hi!"], ["customer", "Hi, I'm Jo Park, my email is jo@mail.com"],
                      ["customer", "call me at (555) 123-4567"], ["action", "Account has been pulled up for Jo Park."],
                      ["agent", "Thanks Jo Park, shipping is free over $50."]]},
        {"convo_id": 8, "original": [["narrator", "??"]]},
        "not a conversation",
    ]))  # fmt: skip
    report = import_logs("abcd", source, tmp_path / "out.jsonl", redact=True)
    assert len(report.rejected) == 2
    (conversation,) = read(tmp_path / "out.jsonl")
    customer, agent = conversation["turns"][1], conversation["turns"][2]
    assert customer["text"] == "Hi, I'm [NAME], my email is [EMAIL]\ncall me at [PHONE]"
    assert customer["intent"] == "shipping_cost"
    assert agent["action"] == "Account has been pulled up for [NAME]."
    assert "[NAME]" in agent["text"]
    assert "Jo Park" not in json.dumps(conversation)


def test_abcd_subflows_are_mapped_onto_the_engines_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "abcd.json"
    source.write_text(json.dumps([
        {"convo_id": n, "scenario": {"flow": "storewide_query", "subflow": subflow},
         "original": [["customer", text], ["agent", "Let me check."]]}
        for n, (subflow, text) in enumerate([("timing_4", "when do promo codes expire?"),
                                             ("search_results", "search shows nothing")])
    ]))  # fmt: skip
    assert main(["data", "import", "--format", "abcd", str(source), str(tmp_path / "a.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "1 renamed by the engine's abcd label map" in out and "search_results (1)" in out
    assert [c["turns"][0]["intent"] for c in read(tmp_path / "a.jsonl")] == ["promotion", "search_results"]


@pytest.mark.parametrize(
    ("text", "greeting"),
    [("HEY HO!", True), ("hello?", True), ("Good morning :)", True), ("hey, can you help me?", True),
     ("Hi there, how\u2019s it going", True), ("is anyone there??", True), ("你好，在吗？", True), ("您好", True),
     ("Hi! I need to return an item, can you help me with that?", False), ("I need help with my order", False),
     ("hello there, I was charged twice", False), ("你好，我想退货", False), ("Crystal Minh", False),
     ("how much is shipping this morning?", False), ("thanks", False), ("", False), ("???", False)],
)  # fmt: skip
def test_greeting_only(text: str, greeting: bool) -> None:
    assert greeting_only(text) is greeting


def test_abcd_label_goes_on_the_request_not_the_greeting_before_it(tmp_path: Path) -> None:
    """ABCD labels a whole conversation with its subflow; customers often open with "hi" and ask after the
    agent answers. The label goes on the request, the greetings before it become `greeting`."""
    source = tmp_path / "abcd.json"
    source.write_text(json.dumps([
        {"convo_id": 1, "scenario": {"subflow": "timing_4"},
         "original": [["customer", "HEY HO!"], ["agent", "good afternoon, how can I help you?"],
                      ["customer", "I've got a promo code and I want to know when they expire."],
                      ["customer", "I'd like to use it for hats."], ["agent", "sure, one moment"],
                      ["customer", "hello?"]]},
        {"convo_id": 2, "scenario": {"subflow": "status_active"},
         "original": [["customer", "hi"], ["agent", "hello, how can I help?"], ["customer", "hello?"]]},
        {"convo_id": 3, "scenario": {"subflow": "refund_status"},
         "original": [["agent", "hi!"], ["customer", "just checking on the status of a refund"],
                      ["agent", "sure, your name?"], ["customer", "hi again, Alex Smith"]]},
    ]))  # fmt: skip
    import_logs("abcd", source, tmp_path / "out.jsonl")
    labelled = [
        [(t["text"], t["intent"]) for t in c["turns"] if t["role"] == "customer"]
        for c in read(tmp_path / "out.jsonl")
    ]
    assert labelled == [
        [("HEY HO!", "greeting"),
         ("I've got a promo code and I want to know when they expire.\nI'd like to use it for hats.", "timing_4"),
         ("hello?", None)],
        [("hi", "status_active"), ("hello?", None)],  # greetings only: the first message keeps the label
        [("just checking on the status of a refund", "refund_status"), ("hi again, Alex Smith", None)],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\x00\x01\x02binary", "looks binary"), ("é,à\n".encode("latin-1"), "not UTF-8")],
)
def test_binary_and_wrong_encoding(tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "x.csv"
    source.write_bytes(content)
    with pytest.raises(DataError, match=message):
        import_logs("ticket-csv", source, tmp_path / "out.jsonl")


def test_a_quote_left_open_stops_the_import_with_nothing_written(tmp_path: Path) -> None:
    """Read leniently, the rows after an open quote become one message's text; strictly, the import says where."""
    source = tmp_path / "tickets.csv"
    source.write_text(
        "conversation_id,role,text,timestamp\n"
        "c1,customer,where is my order?,2024-05-01T10:00:00\n"
        'c1,agent,"It left on Monday,2024-05-01T10:01:00\n'
        "c2,customer,refund please,2024-05-02T09:00:00\n"
    )
    with pytest.raises(DataError, match=r"the ticket-csv export, line 3: not valid CSV"):
        import_logs("ticket-csv", source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    label_map = tmp_path / "map.csv"
    label_map.write_text('raw,label\nwismo,order_status\n"refund,refund_status\n')
    with pytest.raises(DataError, match=r"label map .*map.csv, line 3: not valid CSV"):
        read_label_map(label_map)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="choose one of"):
        import_logs("xml", tmp_path / "a", tmp_path / "b")
    with pytest.raises(DataError, match="does not exist"):
        import_logs("abcd", tmp_path / "absent.json", tmp_path / "b")


def test_cli_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "c.jsonl"
    source.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n[]\n')
    assert main(["data", "import", "--format", "messages-jsonl", str(source), str(tmp_path / "o.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "2 rows in, 1 conversations" in out and "rejected line 2" in out
    assert main(["data", "import", "--format", "messages-jsonl", "--on-error", "reject", str(source),
                 str(tmp_path / "o2.jsonl")]) == 2  # fmt: skip


requires_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside this checkout")


@pytest.mark.integration
@requires_shared
def test_real_bitext(tmp_path: Path) -> None:
    report = import_logs("bitext", SHARED / "bitext" / "bitext_train.csv", tmp_path / "b.jsonl", redact=True)
    assert report.rows_in == 3612
    assert report.conversations_out + len(report.rejected) == report.rows_in
    conversations = read(tmp_path / "b.jsonl")
    assert len({c["turns"][0]["intent"] for c in conversations}) == 27
    assert len(outside_engine(report.intents)) == 25  # Bitext's own names: the policy acts on 2 of 27
    mapped = import_logs("bitext", SHARED / "bitext" / "bitext_train.csv", tmp_path / "m.jsonl",
                         label_map=packaged_label_map("bitext"))  # fmt: skip
    assert set(outside_engine(mapped.intents)) == {
        "change_order",
        "check_cancellation_fee",
        "place_order",
        "review",
    }


@pytest.mark.integration
@requires_shared
@pytest.mark.parametrize("name", ["abcd_sample.json", "dialogstudio_original_examples.json"])
def test_real_abcd(tmp_path: Path, name: str) -> None:
    report = import_logs("abcd", SHARED / "abcd" / name, tmp_path / "a.jsonl", redact=True)
    assert report.rejected == []
    conversations = read(tmp_path / "a.jsonl")
    assert len(conversations) == report.rows_in >= 3
    assert all(c["turns"][0]["role"] in ("agent", "customer") for c in conversations)
    assert any(t.get("action") for c in conversations for t in c["turns"] if t["role"] == "agent")
    assert "@email.com" not in (tmp_path / "a.jsonl").read_text()
    mapped = import_logs(
        "abcd", SHARED / "abcd" / name, tmp_path / "m.jsonl", label_map=packaged_label_map("abcd")
    )
    # the samples' subflows (timing_4, pricing_3, manage, return_size, refund_status) all have a counterpart
    assert mapped.intents and not outside_engine(mapped.intents)
    # each conversation's label is on a message that asks something ("HEY HO!" opens the timing_4 sample)
    requests = [
        t for c in read(tmp_path / "m.jsonl") for t in c["turns"] if t.get("intent") not in (None, "greeting")
    ]
    assert len(requests) == len(conversations) and not any(greeting_only(t["text"]) for t in requests)
    if name == "abcd_sample.json":
        assert mapped.intents["greeting"] == 1


ABCD_WITHOUT_COUNTERPART = {
    "manage_create", "manage_downgrade", "manage_upgrade", "status_delivery_time", "status_quantity",  # order changes
    "search_results", "shopping_cart", "slow_speed",  # the site's troubleshooting
    "pricing", "timing",  # storewide FAQs mixing gift wrap, opening hours, sales and promo codes
    "pricing_1", "pricing_2", "timing_1",  # the price of gift wrap or of stitching a name; the new collection's date
}  # fmt: skip


@requires_shared
def test_the_abcd_map_covers_the_ontologys_subflows_onto_engine_intents() -> None:
    """ABCD's conversations name FAQ subflows with the question's number (`timing_4`: the Timing FAQ's fourth
    question in guidelines.json); the map names each."""
    ontology = json.loads((SHARED / "abcd" / "ontology.json").read_text(encoding="utf-8"))
    subflows = {name for names in ontology["intents"]["subflows"].values() for name in names}
    single_item, storewide = (
        ontology["intents"]["subflows"][flow] for flow in ("single_item_query", "storewide_query")
    )
    numbered = {f"{faq}_{n}" for faq in single_item for n in range(1, 9)} | {
        f"{faq}_{n}" for faq in storewide for n in range(1, 5)
    }
    abcd = packaged_label_map("abcd")
    assert len(subflows) == 55 and len(numbered) == 48 and set(abcd) <= subflows | numbered
    assert (subflows | numbered) - set(abcd) == ABCD_WITHOUT_COUNTERPART
    assert not outside_engine(dict.fromkeys(abcd.values(), 1))  # every target is an intent the policy acts on
    assert not outside_engine(dict.fromkeys(packaged_label_map("bitext").values(), 1))


def test_issue_str() -> None:
    assert str(Issue("a.jsonl", 3, "bad")) == "a.jsonl:3: bad"


TICKETS = ("conversation_id,role,text,timestamp,intent\n"
           "1,customer,where is order 123456,2026-01-01T10:00,track_order\n"
           "1,agent,It is on its way.,2026-01-01T10:01,\n"
           "2,customer,cancel order 123456 please,2026-01-01T11:00,cancel_order\n"
           "3,customer,I want to leave a review,2026-01-01T12:00,review\n")  # fmt: skip


def test_a_label_map_renames_intents_and_the_cli_names_the_labels_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text(TICKETS)
    assert main(["data", "import", "--format", "ticket-csv", str(source), str(tmp_path / "raw.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "3 customer turns labelled with 3 intents\n" in out
    assert "note: 2 intent labels are not among the engine's intents" in out
    assert "review (1), track_order (1)" in out
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"track_order": "order_status", "review": ""}))
    report = import_logs("ticket-csv", source, tmp_path / "mapped.jsonl",
                         label_map={"track_order": "order_status", "review": ""})  # fmt: skip
    assert report.intents == {"order_status": 1, "cancel_order": 1} and report.relabelled == 2
    turns = [t for c in read(tmp_path / "mapped.jsonl") for t in c["turns"] if t["role"] == "customer"]
    assert [t["intent"] for t in turns] == ["order_status", "cancel_order", None]  # unlabelled, not dropped
    assert main(["data", "import", "--format", "ticket-csv", "--label-map", str(label_map), str(source),
                 str(tmp_path / "cli.jsonl")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "2 renamed by the label map" in out and "note:" not in out
    assert read(tmp_path / "cli.jsonl") == read(tmp_path / "mapped.jsonl")


def test_bitext_labels_are_mapped_onto_the_engines_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bitext.csv"
    source.write_text("instruction,intent,category,entity_type,entity_value,response\n"
                      "where is order 123456,track_order,ORDER,,,It is on its way.\n"
                      "can I change my order,change_order,ORDER,,,Sure.\n")  # fmt: skip
    assert main(["data", "import", "--format", "bitext", str(source), str(tmp_path / "b.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "1 renamed by the engine's bitext label map" in out
    assert "note: 1 intent label is not among the engine's intents" in out and "change_order (1)" in out
    assert [c["turns"][0]["intent"] for c in read(tmp_path / "b.jsonl")] == ["order_status", "change_order"]
    own = tmp_path / "own.csv"
    own.write_text("track_order,order_status\nchange_order,ask_human\n")
    assert main(["data", "import", "--format", "bitext", "--label-map", str(own), str(source),
                 str(tmp_path / "c.jsonl")]) == 0  # fmt: skip
    assert [c["turns"][0]["intent"] for c in read(tmp_path / "c.jsonl")] == ["order_status", "ask_human"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("m.json", "{not json", "not JSON"), ("m.json", '["a", "b"]', "JSON object"),
     ("m.json", '{"a": 1}', "JSON object"), ("m.csv", "raw,label\ntrack_order\n", "row 1 has one cell"),
     ("m.csv", b"caf\xe9,x\n", "not UTF-8"), ("absent.json", None, "does not exist")],
)  # fmt: skip
def test_bad_label_maps_say_what_is_wrong(tmp_path: Path, name: str, content: str | bytes | None,
                                          message: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from assistant.data.labels import read_label_map

    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_label_map(path)
    source = tmp_path / "tickets.csv"
    source.write_text(TICKETS)
    assert main(["data", "import", "--format", "ticket-csv", "--label-map", str(path), str(source),
                 str(tmp_path / "out.jsonl")]) == 2  # fmt: skip
    assert not (tmp_path / "out.jsonl").exists()  # nothing written
    assert message in capsys.readouterr().err


def test_a_csv_label_map_with_or_without_its_header(tmp_path: Path) -> None:
    from assistant.data.labels import read_label_map

    (tmp_path / "a.csv").write_text("raw,label\ntrack_order, order_status\n\nreview,\n")
    (tmp_path / "b.csv").write_text("track_order,order_status\nreview,\n")
    assert read_label_map(tmp_path / "a.csv") == read_label_map(tmp_path / "b.csv") == {
        "track_order": "order_status", "review": ""}  # fmt: skip


def test_strict_csv_rows_give_each_rows_last_line_and_stop_at_a_broken_quote() -> None:
    from assistant.data.labels import strict_csv_rows

    text = 'q\ta\nhello\t"two\nlines"\r\nbye\tok\n'
    fields, rows = strict_csv_rows(text, "faq.tsv", delimiter="\t")
    assert fields == ["q", "a"] and [line for line, _ in rows] == [3, 4]
    assert rows[0][1] == {"q": "hello", "a": "two\nlines"} and rows[1][1]["a"] == "ok"
    # read leniently, the open quote would swallow the rows after it into one field
    with pytest.raises(DataError, match=r"sheet\.csv, line 3: not valid CSV"):
        strict_csv_rows('a,b\n1,2\n3,"4\n5,6\n', "sheet.csv")
    assert strict_csv_rows("", "empty.csv") == ([], [])
