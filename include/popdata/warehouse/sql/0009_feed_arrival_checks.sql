-- Migration 0009: the arrival checks of every feed (is a file overdue by its cadence?).
-- One row per check date × feed, written by popdata.monitor.arrivals (DAG monitor__feed_arrivals and
-- `popdata run`); the population-data view shows the latest check, the alert is sent once per feed
-- and due date (alerted_at).

-- statement
CREATE TABLE audit.feed_arrival_checks (
    as_of              date        NOT NULL,
    agency             text        NOT NULL,
    feed               text        NOT NULL,
    cadence            text        NOT NULL,
    grace_days         integer     NOT NULL CHECK (grace_days >= 0),
    last_extract_date  date,
    last_file_id       bigint      REFERENCES audit.file_ledger (file_id),
    due_date           date,
    days_overdue       integer     CHECK (days_overdue IS NULL OR days_overdue >= 0),
    status             text        NOT NULL
        CHECK (status IN ('on_time', 'grace', 'overdue', 'no_file', 'irregular')),
    checked_at         timestamptz NOT NULL DEFAULT now(),
    alerted_at         timestamptz,
    PRIMARY KEY (as_of, feed)
);

-- statement
CREATE INDEX feed_arrival_checks_overdue ON audit.feed_arrival_checks (feed, due_date) WHERE alerted_at IS NOT NULL;

-- statement
COMMENT ON TABLE audit.feed_arrival_checks IS '报送及时性检查：检查日×数据项，按约定报送周期判断是否逾期 / arrival checks: one row per check date and feed, overdue judged by the feed''s cadence';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.as_of IS '检查基准日（DAG运行日期或popdata run的参照日期，不取系统时钟） / date checked as of: the DAG run''s date or the reference date of popdata run, never the wall clock';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.agency IS '报送部门 / sending agency';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.feed IS '数据项 / feed';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.cadence IS '约定报送周期（配置） / expected cadence from the feed config';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.grace_days IS '宽限天数（配置） / days of grace after the due date, from the feed config';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.last_extract_date IS '已入库的最新抽取日期（不晚于检查基准日） / latest extract date of a loaded file, not after the check date';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.last_file_id IS '该最新文件的编号 / file id of that latest loaded file';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.due_date IS '下一文件应报日 = 最新抽取日期 + 报送周期（月末对月末） / next file due: the latest extract date plus one cadence period, month end to month end';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.days_overdue IS '超过应报日的天数（未到期为0；无文件或不定期为空） / days past the due date, 0 when not yet due, null without a file or for irregular feeds';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.status IS '状态：on_time 按时、grace 宽限期内、overdue 逾期、no_file 从未收到、irregular 不定期 / state: on time, within grace, overdue, never received, irregular feed';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.checked_at IS '检查执行时间 / when the check ran';
-- statement
COMMENT ON COLUMN audit.feed_arrival_checks.alerted_at IS '逾期告警发送时间（每个数据项每个应报日只告警一次） / when the overdue alert went out; once per feed and due date';
