"""The key grammar: round trips for every valid key, clear refusals for everything else."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitalhub_airflow.errors import InvalidKeyError
from digitalhub_airflow.keys import (
    ENTITY_KINDS,
    Key,
    as_dataset_key,
    dataset_key,
    parse_key,
    validate_name,
    validate_version,
)

# The grammar, written here independently of the module under test (DESIGN.md, Keys).
GRAMMAR = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
TYPE_KINDS = sorted((t, k) for t, kinds in ENTITY_KINDS.items() for k in kinds)

names = st.from_regex(GRAMMAR, fullmatch=True).filter(lambda s: ".." not in s)
hex_ids = st.text(alphabet="0123456789abcdef", min_size=8, max_size=64)
sequences = st.integers(min_value=1, max_value=10**18 - 1).map(lambda n: f"v{n}")
versions = st.one_of(hex_ids, sequences)
type_kinds = st.sampled_from(TYPE_KINDS)


def _is_valid_name(text: str) -> bool:
    return GRAMMAR.fullmatch(text) is not None and ".." not in text


@st.composite
def keys(draw: st.DrawFn) -> Key:
    project = draw(names)
    if draw(st.booleans()) and draw(st.booleans()):
        return Key(project)
    entity_type, kind = draw(type_kinds)
    name = draw(names)
    suffix = draw(st.sampled_from(["none", "version", "alias"]))
    version = draw(versions) if suffix == "version" else None
    alias = draw(names) if suffix == "alias" else None
    return Key(project, entity_type, kind, name, version, alias)


@st.composite
def key_texts(draw: st.DrawFn) -> str:
    """Valid key strings built by hand from the grammar, not by ``str(Key)``."""
    project = draw(names)
    if draw(st.booleans()) and draw(st.booleans()):
        return f"store://{project}"
    entity_type, kind = draw(type_kinds)
    text = f"store://{project}/{entity_type}/{kind}/{draw(names)}"
    suffix = draw(st.sampled_from(["", "version", "alias"]))
    if suffix == "version":
        text += ":" + draw(versions)
    elif suffix == "alias":
        text += "@" + draw(names)
    return text


# -- round trips -----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(keys())
def test_key_round_trips_through_its_string(key: Key) -> None:
    assert parse_key(str(key)) == key


@settings(max_examples=150, deadline=None)
@given(key_texts())
def test_string_round_trips_through_parse(text: str) -> None:
    key = parse_key(text)
    assert str(key) == text
    assert key.is_project == (text.count("/") == 2)


@settings(max_examples=100, deadline=None)
@given(key_texts())
def test_unversioned_key_drops_exactly_the_version_or_alias(text: str) -> None:
    key = parse_key(text)
    assert str(key.unversioned()) == "store://" + re.split(r"[:@]", text[len("store://") :])[0]
    assert key.unversioned().version is None
    assert key.unversioned().alias is None


@settings(max_examples=100, deadline=None)
@given(names, names, sequences)
def test_sequence_number_is_the_integer_after_v(project: str, name: str, seq: str) -> None:
    key = parse_key(f"store://{project}/dataitem/table/{name}:{seq}")
    assert key.sequence == int(seq[1:])
    assert key.version == seq


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=70) | names)
def test_validate_name_accepts_exactly_the_grammar(text: str) -> None:
    if _is_valid_name(text):
        assert validate_name(text) == text
    else:
        with pytest.raises(InvalidKeyError):
            validate_name(text)


# -- refusals --------------------------------------------------------------------------

REFUSED = [
    # (key text, words the message must contain)
    ("store://demo/dataitem/table/..", ["'..'"]),
    ("store://demo/dataitem/table/a..b", ["'..'"]),
    ("store://../dataitem/table/wine", ["project", "'..'"]),
    ("store://demo/dataitem/table/%2e%2e", ["'%2e%2e'", "invalid"]),
    ("store://demo/dataitem/table/a/b", ["must be store://<project>"]),
    ("store://demo/dataitem/table/Wine", ["'Wine'", "uppercase"]),
    ("store://Demo/dataitem/table/wine", ["project", "uppercase"]),
    ("store://demo/dataitem/table/" + "a" * 64, ["64 characters", "at most 63"]),
    ("store://" + "p" * 70, ["project", "70 characters"]),
    ("store://demo/dataitem/table/", ["name must not be empty"]),
    ("store://", ["project must not be empty"]),
    ("store:///dataitem/table/wine", ["project must not be empty"]),
    ("store://demo/dataset/table/wine", ["entity type 'dataset' is unknown"]),
    ("store://demo/dataitem/model/wine", ["kind 'model' is not valid for dataitem"]),
    ("store://demo/model/table/m", ["kind 'table' is not valid for model"]),
    ("store://demo/dataitem/table/wine:v0", ["version 'v0' is invalid"]),
    ("store://demo/dataitem/table/wine:vx", ["version 'vx' is invalid"]),
    ("store://demo/dataitem/table/wine:v01", ["version 'v01' is invalid"]),
    ("store://demo/dataitem/table/wine:zz12ab34", ["version 'zz12ab34' is invalid"]),
    ("store://demo/dataitem/table/wine:ABCDEF12", ["version 'ABCDEF12' is invalid"]),
    ("store://demo/dataitem/table/wine:abc1234", ["version 'abc1234' is invalid"]),
    ("store://demo/dataitem/table/wine:" + "a" * 65, ["is invalid"]),
    ("store://demo/dataitem/table/wine:", ["version '' is invalid"]),
    ("store://demo/dataitem/table/wine@", ["alias must not be empty"]),
    ("store://demo/dataitem/table/wine@Prod", ["alias 'Prod'", "uppercase"]),
    ("demo/dataitem/table/wine", ["must start with 'store://'"]),
    ("s3://demo/dataitem/table/wine", ["must start with 'store://'"]),
    ("STORE://demo/dataitem/table/wine", ["must start with 'store://'"]),
    ("store://demo/dataitem/table/wine/extra", ["must be store://<project>"]),
    ("store://demo/dataitem", ["must be store://<project>"]),
    ("store://demo/dataitem/table", ["must be store://<project>"]),
    ("store://demo/", ["must be store://<project>"]),
]


@pytest.mark.parametrize(("text", "words"), REFUSED, ids=[t for t, _ in REFUSED])
def test_refused_keys_name_the_problem(text: str, words: list[str]) -> None:
    with pytest.raises(InvalidKeyError) as info:
        parse_key(text)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message


def test_refusal_is_a_value_error_too() -> None:
    """Callers that only know ``ValueError`` still catch a bad key."""
    with pytest.raises(ValueError, match="uppercase"):
        parse_key("store://demo/dataitem/table/Wine")


@pytest.mark.parametrize("bad", ["a/b", "..", "../x", "a b", "a\n", "é", "-a", ".a", "_a", ""])
def test_dataset_key_refuses_bad_names(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        dataset_key("demo", bad)


def test_version_and_alias_together_are_refused() -> None:
    with pytest.raises(InvalidKeyError, match="either a version or an alias, not both"):
        Key("demo", "dataitem", "table", "wine", version="v1", alias="prod")


@pytest.mark.parametrize("suffix", [":v1@prod", "@prod:v1"])
def test_version_and_alias_in_one_string_are_refused_as_such(suffix: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        parse_key("store://demo/dataitem/table/wine" + suffix)
    assert "alias" in str(info.value)
    assert "version" in str(info.value)


def test_project_key_has_no_version_or_alias() -> None:
    with pytest.raises(InvalidKeyError, match="project key has no version"):
        Key("demo", version="v1")
    with pytest.raises(InvalidKeyError, match="type, kind and name together"):
        Key("demo", "dataitem", None, "wine")


@pytest.mark.parametrize("good", ["v1", "v999999999999999999", "deadbeef", "0" * 64])
def test_validate_version_accepts_ids_and_sequences(good: str) -> None:
    assert validate_version(good) == good


# -- the CLI's short form -------------------------------------------------------------


def test_as_dataset_key_short_form_is_a_table_by_default() -> None:
    key = as_dataset_key("demo/wine")
    assert key == Key("demo", "dataitem", "table", "wine")
    assert str(key) == "store://demo/dataitem/table/wine"


def test_as_dataset_key_short_form_with_kind() -> None:
    assert str(as_dataset_key("demo/wine", "files")) == "store://demo/dataitem/files/wine"


def test_as_dataset_key_full_key_is_kept() -> None:
    key = as_dataset_key("store://demo/dataitem/files/wine")
    assert key == Key("demo", "dataitem", "files", "wine")
    given_key = Key("demo", "dataitem", "table", "x")
    assert as_dataset_key(given_key) is given_key


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("demo", "must be <project>/<name>"),
        ("demo/a/b", "must be <project>/<name>"),
        ("demo/", "name must not be empty"),
        ("/wine", "project must not be empty"),
        ("Demo/wine", "uppercase"),
        ("demo/..", "'..'"),
        ("demo/../etc", "must be <project>/<name>"),
        ("store://demo/dataitem/table/wine:v1", "not a version or alias"),
        ("store://demo/dataitem/table/wine@prod", "not a version or alias"),
    ],
)
def test_as_dataset_key_refusals(target: str, words: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        as_dataset_key(target)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "target", ["store://demo/artifact/files/x", "store://demo/model/sklearn/m", "store://demo"]
)
def test_as_dataset_key_refuses_other_entity_types(target: str) -> None:
    with pytest.raises(InvalidKeyError):
        as_dataset_key(target)
