import pytest

from common.keys import (
    BROKER_KEY,
    InvalidTopicName,
    topic_from_key,
    topic_key,
    validate_topic,
)


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "", "x" * 129, "broker.json", "broker", "a.b", "..", "a b", "é", "a\x00"],
)
def test_invalid_topic_names_are_rejected(name: str) -> None:
    if name == "broker":
        # A bare "broker" is a fine topic name; it still cannot reach the registry key.
        assert topic_key(name) != BROKER_KEY
        return
    with pytest.raises(InvalidTopicName) as info:
        topic_key(name)
    assert "invalid topic name" in str(info.value)


@pytest.mark.parametrize("name", ["orders", "a", "A-b_9", "x" * 128])
def test_valid_topic_names_map_under_topics(name: str) -> None:
    assert validate_topic(name) == name
    key = topic_key(name)
    assert key == f"topics/{name}.json"
    assert topic_from_key(key) == name


def test_no_topic_key_can_equal_the_broker_key() -> None:
    assert topic_from_key(BROKER_KEY) is None
    assert topic_from_key("topics/../broker.json") is None
    assert topic_from_key("topics/.tmp-abc.json") is None
