from datetime import timedelta
from typing import Any

from common.models import Counters, JobStatus
from console.model import (
    COLUMNS,
    SortOrder,
    Throughput,
    Tint,
    ViewKind,
    ViewSpec,
    format_age,
    format_job_age,
    format_rate,
    job_row,
    select_jobs,
    sparkline,
    summarize,
    view_window,
    window,
)
from tests.console.docs import T0, at, document, job

C, D, P = JobStatus.CLAIMED, JobStatus.DEAD, JobStatus.PENDING


def ids(jobs: list[Any]) -> list[str]:
    return [j.id for j in jobs]


def test_ages_are_compact_and_empty_when_unknown() -> None:
    assert [format_age(s) for s in (None, -3, 7, 65, 3725, 90000)] == [
        "",
        "0s",
        "7s",
        "1m05s",
        "1h02m",
        "1d01h",
    ]
    # A job's age keeps seconds only in its first minute, so it changes once a minute after.
    assert [format_job_age(s) for s in (-3, 59, 60, 65, 119, 3599, 3725)] == [
        "0s",
        "59s",
        "1m",
        "1m",
        "1m",
        "59m",
        "1h02m",
    ]


def test_row_shows_claim_heartbeat_and_payload_preview() -> None:
    row = job_row(job("a", C, payload={"item": "book"}, created=0, heartbeat=10), at(30), 30)
    assert (row.status, row.claimed_by, row.heartbeat, row.age) == (
        "claimed",
        "worker-1",
        "20s",
        "30s",
    )
    assert row.preview == '{"item":"book"}'
    assert row.cells(COLUMNS[ViewKind.JOBS])[0] == "a"


def test_long_payload_preview_is_one_truncated_line() -> None:
    row = job_row(job("a", payload="line one\nline two " + "x" * 200), at(1), 30)
    assert "\n" not in row.preview
    assert len(row.preview) == 80 and row.preview.endswith("…")


def test_heartbeat_tint_warns_past_half_and_marks_stale_past_the_timeout() -> None:
    tints = [job_row(job("a", C, heartbeat=0), at(s), 30).tint for s in (10, 15, 29, 30)]
    assert tints == [Tint.NONE, Tint.WARN, Tint.WARN, Tint.STALE]


def test_status_filter_and_search_by_id_or_payload_text() -> None:
    jobs = [job("a1", P, payload={"item": "Book"}), job("b2", C), job("c3", D)]
    assert ids(select_jobs(jobs, ViewSpec(status=C), at(1), 30)) == ["b2"]
    assert ids(select_jobs(jobs, ViewSpec(search="book"), at(1), 30)) == ["a1"]
    assert ids(select_jobs(jobs, ViewSpec(search="C3"), at(1), 30)) == ["c3"]


def test_sorts_by_age_both_ways_and_by_heartbeat_age() -> None:
    jobs = [
        job("new", P, created=20),
        job("old", C, created=0, heartbeat=15),
        job("mid", C, created=10, heartbeat=5),
    ]
    now = at(30)
    assert ids(select_jobs(jobs, ViewSpec(sort=SortOrder.QUEUE), now, 30)) == ["new", "old", "mid"]
    assert ids(select_jobs(jobs, ViewSpec(sort=SortOrder.OLDEST), now, 30)) == ["old", "mid", "new"]
    assert ids(select_jobs(jobs, ViewSpec(sort=SortOrder.NEWEST), now, 30)) == ["new", "mid", "old"]
    assert ids(select_jobs(jobs, ViewSpec(sort=SortOrder.HEARTBEAT), now, 30)) == [
        "mid",
        "old",
        "new",
    ]


def test_stale_view_holds_claimed_jobs_late_on_heartbeat_stalest_first() -> None:
    jobs = [
        job("fresh", C, heartbeat=25),
        job("late", C, heartbeat=12),
        job("stale", C, heartbeat=0),
        job("pending", P),
    ]
    spec = ViewSpec(kind=ViewKind.STALE)
    assert ids(select_jobs(jobs, spec, at(30), 30)) == ["stale", "late"]


def test_dead_view_shows_last_error() -> None:
    doc = document("t", [job("a", P), job("b", D, error="boom")])
    jobs, _ = view_window(doc, ViewSpec(kind=ViewKind.DEAD), at(1), 30)
    assert [(r.id, r.last_error) for r in (job_row(j, at(1), 30) for j in jobs)] == [("b", "boom")]


def test_window_caps_rows_and_counts_the_hidden_ones() -> None:
    doc = document("t", [job(f"j{i}", created=i) for i in range(100)])
    jobs, win = view_window(doc, ViewSpec(), at(200), 30, start=0, cap=30)
    assert len(jobs) == 30 and win.hidden == 70
    assert "70 hidden" in win.describe()
    jobs, win = view_window(doc, ViewSpec(), at(200), 30, start=95, cap=30)
    assert (win.start, win.stop, jobs[0].id) == (70, 100, "j70")
    assert window(5, 3, 30).hidden == 0


def test_summary_counts_each_status() -> None:
    later = job("e", P)
    later.available_at = at(60)
    doc = document("t", [job("a", P), job("b", C), job("c", D), job("d", D), later])
    summary = summarize(doc, at(30))
    assert summary.counts == {"pending": 1, "delayed": 1, "claimed": 1, "completed": 0, "dead": 2}
    assert summary.next_due == at(60)
    # Once its time has come, the delayed job counts as pending.
    assert summarize(doc, at(60)).counts["pending"] == 2
    assert summarize(doc, at(60)).next_due is None


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([0, 5, 10]) == "▁▅█"


def test_throughput_rates_come_from_counter_growth_per_bucket() -> None:
    history = Throughput(bucket=5.0, buckets=3)
    history.add(T0, Counters(enqueued=100, completed=50))
    history.add(T0 + timedelta(seconds=6), Counters(enqueued=150, completed=50))
    history.add(T0 + timedelta(seconds=11), Counters(enqueued=150, completed=75))
    enqueue, complete = history.rates(T0 + timedelta(seconds=15))
    assert enqueue == [0.0, 10.0, 0.0]
    assert complete == [0.0, 0.0, 5.0]


def test_rates_are_always_per_minute() -> None:
    assert [format_rate(r) for r in (0, 0.5 / 60, 1 / 60, 0.8, 2, 20, 2000)] == [
        "0/m",
        "0.5/m",
        "1/m",
        "48/m",
        "120/m",
        "1,200/m",
        "120k/m",
    ]


def test_throughput_history_covers_5_15_and_60_minutes() -> None:
    history = Throughput()
    for minute in range(0, 70):  # 10 jobs enqueued and 4 completed a minute
        history.add(at(minute * 60), Counters(enqueued=10 * minute, completed=4 * minute))
    now = at(69 * 60)
    five, hour = history.over(now, 5), history.over(now, 60)
    assert (five.enqueued, five.completed, five.seen) == (50, 20, 300)
    assert (hour.enqueued, hour.completed) == (600, 240)
    assert hour.per_minute(hour.enqueued) == 10.0
    # Only what the console has seen: 2 minutes of a 15-minute window.
    young = Throughput()
    young.add(at(0), Counters(enqueued=100))
    young.add(at(120), Counters(enqueued=106))
    window = young.over(at(120), 15)
    assert (window.enqueued, window.seen) == (6, 120)
    assert len(history.history) <= 60 * 6 + 2  # one sample per 10 s, an hour long
    # Documents seconds apart: the first sample stays the base, the last the latest.
    quick = Throughput()
    for second, enqueued in ((0, 100), (2, 103), (4, 105)):
        quick.add(at(second), Counters(enqueued=enqueued))
    assert quick.over(at(4), 5).enqueued == 5
