import pytest

from common.keys import (
    BROKER_KEY,
    InvalidTopicName,
    checkpoint_generation,
    checkpoint_key,
    checkpoint_prefix,
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


def test_checkpoint_keys_sit_under_the_topic_and_carry_their_generation() -> None:
    key = checkpoint_key("orders", 42, "1a2b3c4d")
    assert key == "topics/orders/checkpoint-000000000042-1a2b3c4d.json"
    assert key.startswith(checkpoint_prefix("orders")) and checkpoint_prefix("orders") == (
        "topics/orders/"
    )
    assert checkpoint_generation(key) == 42
    assert topic_from_key(key) is None  # listing topics/ never mistakes it for a topic


@pytest.mark.parametrize("token", ["1A2B3C4D", "1a2b3c4", "1a2b3c4d5", "1a2b3c4g", ""])
def test_checkpoint_tokens_must_be_8_lowercase_hex_characters(token: str) -> None:
    with pytest.raises(ValueError, match="8 lowercase hex"):
        checkpoint_key("orders", 1, token)


def test_checkpoint_keys_validate_the_topic() -> None:
    with pytest.raises(InvalidTopicName):
        checkpoint_key("../x", 1, "1a2b3c4d")
    with pytest.raises(InvalidTopicName):
        checkpoint_prefix("a.b")


@pytest.mark.parametrize(
    "key",
    [
        "topics/orders.json",
        "broker.json",
        "topics/orders/checkpoint-42-1a2b3c4d.json",
        "topics/orders/checkpoint-000000000042-1A2B3C4D.json",
        "topics/orders/checkpoint-000000000042-1a2b3c4d.json.tmp",
        "topics/a/b/checkpoint-000000000042-1a2b3c4d.json",
        "topics/a.b/checkpoint-000000000042-1a2b3c4d.json",
        "x/topics/orders/checkpoint-000000000042-1a2b3c4d.json",
    ],
)
def test_checkpoint_generation_is_none_for_keys_that_are_not_checkpoints(key: str) -> None:
    assert checkpoint_generation(key) is None
