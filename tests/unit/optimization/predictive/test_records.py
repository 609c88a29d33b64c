from __future__ import annotations

import datetime
from types import SimpleNamespace

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memories.errors import ConfigError
from memories.optimization.predictive.records import AccessColumns, AccessRecord, normalize_record


def test_dict_with_datetime_time_becomes_epoch_seconds() -> None:
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    record = normalize_record({"key": "a", "time": moment, "location": "eu", "type": "tile"}, index=0)
    assert record == AccessRecord("a", moment.timestamp(), "eu", "tile")


def test_row_array_and_object_forms_are_accepted() -> None:
    columns = AccessColumns.from_records(
        [("a", 5), numpy.int64(7), SimpleNamespace(key="c", time=9.5, location=None, type="t")]
    )
    assert columns.keys == ["a", "7", "c"]
    assert columns.times == [5.0, 1.0, 9.5]
    assert columns.types == [None, None, "t"]


def test_record_without_key_is_config_error() -> None:
    with pytest.raises(ConfigError, match="record 0"):
        normalize_record({"time": 1}, index=0)


def test_non_numeric_time_is_config_error() -> None:
    with pytest.raises(ConfigError, match="time"):
        normalize_record({"key": "a", "time": "yesterday"}, index=3)


def test_single_string_is_not_a_log() -> None:
    with pytest.raises(ConfigError):
        AccessColumns.from_records("abc")


@settings(max_examples=50, deadline=None)
@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2100, 1, 1)))
def test_naive_datetime_is_taken_as_utc(moment: datetime.datetime) -> None:
    record = normalize_record({"key": "a", "time": moment}, index=0)
    assert record.time == moment.replace(tzinfo=datetime.UTC).timestamp()
