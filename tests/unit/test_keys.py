import pytest

from lungct.errors import InvalidKeyError
from lungct.keys import incoming_key, parse_incoming_key, validate_study_id


def test_url_encoded_key_with_spaces_and_parentheses_is_decoded():
    key = parse_incoming_key("incoming/S-1/000108+%283%29.png")
    assert (key.study_id, key.image, key.key) == ("S-1", "000108 (3).png", "incoming/S-1/000108 (3).png")


def test_nested_image_path_stays_under_its_study():
    key = parse_incoming_key("incoming/S1/series%202/slice.dcm")
    assert key.study_id == "S1" and key.image == "series 2/slice.dcm"


@pytest.mark.parametrize(
    "raw",
    [
        "other/S1/a.png",
        "incoming/S1/",
        "incoming/S1",
        "incoming/../S2/a.png",
        "incoming/S1/../S2/a.png",
        "incoming/S1%2F..%2FS2/a.png",  # encoded slashes decode into a '..' segment
        "incoming/%C3%A9tude/a.png",  # unicode study ID
        "incoming/" + "x" * 129 + "/a.png",
        "incoming/S1/a%00.png",
    ],
)
def test_keys_that_could_escape_their_study_are_refused(raw):
    with pytest.raises(InvalidKeyError):
        parse_incoming_key(raw)


@pytest.mark.parametrize("study", ["", ".", "..", "a/b", "a b", "x" * 129, "é"])
def test_invalid_study_ids_are_refused(study):
    with pytest.raises(InvalidKeyError):
        validate_study_id(study)


def test_incoming_key_round_trips():
    assert parse_incoming_key(incoming_key("S.1_a-b", "000108 (3).png"), url_encoded=False).image == "000108 (3).png"
