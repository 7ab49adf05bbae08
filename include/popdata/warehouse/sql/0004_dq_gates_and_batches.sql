-- Great Expectations gates and cross-feed batches in audit.dq_results.
ALTER TABLE audit.dq_results ADD COLUMN batch text;
COMMENT ON COLUMN audit.dq_results.batch IS '跨数据项检查批次（如 cross_feed:2014-06-30；文件的检查为空） / cross-feed batch, e.g. cross_feed:2014-06-30; null for a file';
COMMENT ON COLUMN audit.dq_results.severity IS '闸门：reject_rows拒收不合格行，quarantine_file整批隔离，warn仅记录 / gate: reject_rows rejects the failing rows, quarantine_file stops the batch, warn is recorded';
UPDATE audit.dq_results SET severity = CASE severity WHEN 'critical' THEN 'quarantine_file' WHEN 'warning' THEN 'warn' ELSE severity END;
ALTER TABLE audit.dq_results ADD CONSTRAINT dq_results_severity CHECK (severity IN ('reject_rows', 'quarantine_file', 'warn'));
ALTER TABLE audit.dq_results ADD CONSTRAINT dq_results_file_or_batch CHECK ((file_id IS NULL) <> (batch IS NULL));
CREATE INDEX dq_results_batch ON audit.dq_results (batch) WHERE batch IS NOT NULL;
