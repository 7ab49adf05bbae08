"""The village reports section's rules on hand-made rows: Beijing weeks, when a village is silent, the tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from popdata.dashboard.sections.villages import (
    SILENT_AFTER_DAYS,
    WEEKS_SHOWN,
    VillageRow,
    figures,
    silent_table,
    village_status,
    village_table,
    week_start,
    weeks_shown,
)

NOW = datetime(2024, 6, 5, 4, 0, tzinfo=UTC)  # Wednesday 12:00 in Beijing


def village(
    code: str = "320102001001",
    *,
    tokens: int = 1,
    first_token: timedelta = timedelta(days=60),
    last_report: timedelta | None = timedelta(days=1),
    reports: int = 3,
    waiting: int = 0,
    refused: int = 0,
) -> VillageRow:
    return VillageRow(
        village_code=code,
        name="东风村",
        town="东湖镇",
        active_tokens=tokens,
        first_token_at=NOW - first_token,
        last_report_at=NOW - last_report if last_report is not None else None,
        reports=reports if last_report is not None else 0,
        waiting_for_batch=waiting,
        refused_last_7_days=refused,
    )


def test_weeks_start_on_monday_in_beijing_time() -> None:
    # Sunday 16:30 UTC is already Monday 00:30 in Beijing
    assert week_start(datetime(2024, 6, 2, 16, 30, tzinfo=UTC)) == date(2024, 6, 3)
    assert week_start(datetime(2024, 6, 2, 15, 59, tzinfo=UTC)) == date(2024, 5, 27)
    weeks = weeks_shown(NOW)
    assert len(weeks) == WEEKS_SHOWN and weeks[-1] == date(2024, 6, 3)
    assert weeks[0] == date(2024, 6, 3) - timedelta(weeks=WEEKS_SHOWN - 1)
    assert all(w.weekday() == 0 for w in weeks)


def test_silent_after_the_named_number_of_days() -> None:
    limit = timedelta(days=SILENT_AFTER_DAYS)
    assert not village(last_report=limit).is_silent(NOW)
    assert village(last_report=limit + timedelta(seconds=1)).is_silent(NOW)
    # never reported: counted from the first token
    assert not village(first_token=limit - timedelta(hours=1), last_report=None).is_silent(NOW)
    assert village(first_token=limit + timedelta(hours=1), last_report=None).is_silent(NOW)
    # no active token: nobody can report, so not silent
    assert not village(tokens=0, last_report=timedelta(days=90)).is_silent(NOW)


def test_status_words_and_colours() -> None:
    assert village_status(village(), NOW)[1] == "ok"
    label, status = village_status(village(last_report=timedelta(days=20)), NOW)
    assert status == "bad" and label.zh == "已沉默（20天）"
    label, status = village_status(village(first_token=timedelta(days=30), last_report=None), NOW)
    assert status == "bad" and "从未报告" in label.zh
    assert village_status(village(first_token=timedelta(days=2), last_report=None), NOW)[0].zh.startswith(
        "新令牌"
    )
    assert village_status(village(tokens=0), NOW)[0].zh == "令牌均已吊销"


def test_tables_and_figures() -> None:
    rows = [
        village("320102001001", waiting=2, refused=1),
        village("320102001002", last_report=timedelta(days=20)),
        village("320102001003", first_token=timedelta(days=40), last_report=None),
        village("320102001004", tokens=0, last_report=timedelta(days=40)),
    ]
    weeks = weeks_shown(NOW)
    per_village = {"320102001001": {weeks[-1]: 2, weeks[0]: 1}}
    table = village_table(rows, per_village, weeks, NOW)
    assert len(table.columns) == 9 + WEEKS_SHOWN and all(len(r) == len(table.columns) for r in table.rows)
    assert [c.text for c in table.rows[0][4 : 4 + WEEKS_SHOWN]] == ["1", "0", "0", "0", "0", "0", "0", "2"]
    assert table.columns[4 + WEEKS_SHOWN - 1].zh == "本周 06-03"
    assert table.rows[0][-3].text == "2" and table.rows[0][-2].status == "warn"
    assert f"{SILENT_AFTER_DAYS}天" in (table.note.zh if table.note else "")

    silent = silent_table(rows, NOW)
    assert [r[2].text for r in silent.rows] == ["320102001003", "320102001002"]  # longest first
    assert silent.rows[0][-1].text == "40" and silent.rows[0][-2].text == "从未 / never"
    nobody = silent_table(rows[:1], NOW)
    assert len(nobody.rows) == 1 and len(nobody.rows[0]) == 1 and nobody.rows[0][0].status == "ok"

    per_type: dict[date, dict[str, int]] = {w: {} for w in weeks} | {
        weeks[-1]: {"出生": 2},
        weeks[-2]: {"死亡": 1, "迁入": 1},
    }
    shown = {f.key: f for f in figures(rows, per_type, weeks, NOW)}
    assert shown["villages_with_token"].value == 3
    assert shown["village_reports_week"].value == 2 and shown["village_reports_last_week"].value == 2
    assert shown["silent_villages"].value == 2 and shown["silent_villages"].status == "bad"
    assert shown["village_reports_waiting"].value == 2
    assert shown["village_submissions_refused"].value == 1
    assert {f.key: f.status for f in figures(rows[:1], per_type, weeks, NOW)}["silent_villages"] == "ok"
