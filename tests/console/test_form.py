import pytest

from console.actions import Enqueue, FormInvalid, Nack, enqueue_from_form, nack_from_form


def test_form_builds_the_request_with_optional_id_and_delay() -> None:
    assert enqueue_from_form("t", '{"a": [1]}', "", "") == Enqueue("t", {"a": [1]})
    assert enqueue_from_form("t", '"text"', " job-1 ", "2.5") == Enqueue("t", "text", "job-1", 2.5)


@pytest.mark.parametrize(
    ("payload", "job_id", "delay", "message"),
    [
        ("", "", "", "payload: enter a JSON value"),
        ('{"a": ', "", "", "payload is not valid JSON"),
        ("{'a': 1}", "", "", "line 1, column 2"),
        ("1", "x" * 257, "", "id: at most 256"),
        ("1", "", "soon", "delay must be a number of seconds from 0 to 31536000, got 'soon'"),
        ("1", "", "-1", "delay must be a number of seconds from 0 to 31536000, got '-1'"),
        ("1", "", "1e15", "delay must be a number of seconds from 0 to 31536000, got '1e15'"),
        ("1", "", "nan", "delay must be a number of seconds from 0 to 31536000, got 'nan'"),
    ],
)
def test_form_errors_name_the_field(payload: str, job_id: str, delay: str, message: str) -> None:
    with pytest.raises(FormInvalid, match=message):
        enqueue_from_form("t", payload, job_id, delay)


def test_nack_form_leaves_empty_fields_out() -> None:
    assert nack_from_form("t", "j", "", "") == Nack("t", "j", None, None)
    assert nack_from_form("t", "j", " timeout ", "30") == Nack("t", "j", "timeout", 30.0)
    with pytest.raises(FormInvalid, match="delay must be a number of seconds"):
        nack_from_form("t", "j", "", "later")
