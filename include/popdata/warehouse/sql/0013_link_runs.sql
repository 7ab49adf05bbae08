-- Migration 0013: the ledger of linkage runs (what each run of popdata.linkage.link.run read).
-- One row per linkage run that committed, written in the run's own transaction. An
-- asset-triggered linkage (DAG link__persons) compares the published files it would read with
-- the latest row and skips when nothing was published since; the chain's state (make bench)
-- asks the same question.

-- statement
CREATE TABLE audit.link_runs (
    link_run_id      bigserial   PRIMARY KEY,
    linked_at        timestamptz NOT NULL DEFAULT now(),
    published_files  integer     NOT NULL CHECK (published_files >= 0),
    published_digest text        NOT NULL,
    mentions         integer     NOT NULL CHECK (mentions >= 0),
    id_exact         integer     NOT NULL CHECK (id_exact >= 0),
    probabilistic    integer     NOT NULL CHECK (probabilistic >= 0),
    new              integer     NOT NULL CHECK (new >= 0),
    new_persons      integer     NOT NULL CHECK (new_persons >= 0),
    merges           integer     NOT NULL CHECK (merges >= 0),
    reviews          integer     NOT NULL CHECK (reviews >= 0),
    corrections      integer     NOT NULL CHECK (corrections >= 0)
);

-- statement
COMMENT ON TABLE audit.link_runs IS '人员主索引运行台账：每次关联运行一行，记录其读取的已发布文件 / linkage runs: one row per committed run of the master person index, with the published files it read';
-- statement
COMMENT ON COLUMN audit.link_runs.link_run_id IS '运行编号 / run id';
-- statement
COMMENT ON COLUMN audit.link_runs.linked_at IS '运行事务开始时间 / start of the run''s transaction';
-- statement
COMMENT ON COLUMN audit.link_runs.published_files IS '读取的已发布文件数（含人员的数据项） / published files of the feeds with persons the run read';
-- statement
COMMENT ON COLUMN audit.link_runs.published_digest IS '已发布文件指纹（文件编号与发布时间的MD5） / fingerprint of those files: MD5 of their file ids and publish times';
-- statement
COMMENT ON COLUMN audit.link_runs.mentions IS '关联的人员提及数 / mentions linked';
-- statement
COMMENT ON COLUMN audit.link_runs.id_exact IS '按有效身份证号关联 / mentions linked by a valid identity number';
-- statement
COMMENT ON COLUMN audit.link_runs.probabilistic IS '按概率模型或出生规则关联 / mentions linked by the probabilistic model or a birth rule';
-- statement
COMMENT ON COLUMN audit.link_runs.new IS '未能关联、作为新人员的提及 / mentions that matched no one (a new person or their previous key)';
-- statement
COMMENT ON COLUMN audit.link_runs.new_persons IS '新建人员数 / persons added to core.person';
-- statement
COMMENT ON COLUMN audit.link_runs.merges IS '合并的人员键数 / person keys merged (recorded in core.person_merge)';
-- statement
COMMENT ON COLUMN audit.link_runs.reviews IS '转人工复核数 / pairs sent to clerical review';
-- statement
COMMENT ON COLUMN audit.link_runs.corrections IS '身份证号更正建议数 / identity numbers proposed for correction';
