"""Which records of a group a librdkafka sink's delivery reports say were not acknowledged
(the reports are librdkafka's to give: here, made by hand)."""

from __future__ import annotations

from typing import NamedTuple

from streaminfer.pipelines.kafka.confluent_sink import Reports


class Report(NamedTuple):
    """The part of a delivery report's message that :class:`Reports` reads."""

    k: bytes | None
    v: bytes | None

    def key(self) -> bytes | None:
        return self.k

    def value(self) -> bytes | None:
        return self.v


RECORDS = [(b"a", b"1"), (b"b", b"2"), (b"a", b"1"), (None, b"3")]


def test_a_group_every_record_acknowledged_is_complete():
    group = Reports(RECORDS)
    for key, value in reversed(RECORDS):  # reports come in any order
        assert not group.complete
        group.report(None, Report(key, value))
    assert group.complete and group.left == 0 and group.failed() == {}


def test_a_refused_report_names_its_record_by_key_and_value_and_alike_records_one_each():
    group = Reports(RECORDS)
    group.report("timed out", Report(b"a", b"1"))
    group.report(None, Report(b"b", b"2"))
    group.report("too old", Report(b"a", b"1"))
    group.report("gone", Report(None, b"3"))
    assert not group.complete
    assert group.failed() == {0: "timed out", 2: "too old", 3: "gone"}


def test_a_record_refused_before_queueing_fails_without_a_report():
    group = Reports(RECORDS)
    group.refuse(1, "too large")
    for key, value in (RECORDS[0], RECORDS[2], RECORDS[3]):
        group.report(None, Report(key, value))
    assert group.left == 0 and group.failed() == {1: "too large"}


def test_while_reports_are_missing_every_record_not_named_is_failed_unknown():
    group = Reports(RECORDS)
    group.refuse(3, "too large")
    group.report(None, Report(b"a", b"1"))
    group.report("refused", Report(b"b", b"2"))
    # Which of the three other records was acknowledged is not known: all sent again.
    assert group.left == 1
    assert group.failed() == {3: "too large", 1: "refused", 0: None, 2: None}


def test_an_empty_key_or_value_reported_as_none_still_names_its_record():
    group = Reports([(b"k", b"1"), (None, b""), (b"", b"2")])
    group.report("refused", Report(None, None))  # librdkafka: no key, no value
    group.report("refused", Report(None, b"2"))
    group.report(None, Report(b"k", b"1"))
    assert group.failed() == {1: "refused", 2: "refused"}
