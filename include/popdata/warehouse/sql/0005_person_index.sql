-- The spine of the master person index (Alembic revision 0005): pseudonymous persons, the identity
-- numbers that link to them exactly, recorded key merges, the link of every person role of every
-- current source record, and the two work lists linkage produces (docs/linkage.md).

CREATE SEQUENCE core.person_key_seq AS bigint START 1000001;
COMMENT ON SEQUENCE core.person_key_seq IS '人员键序列（与身份证号无关） / person key sequence, never derived from an ID number';

CREATE TABLE core.person (
    person_key  bigint      PRIMARY KEY DEFAULT nextval('core.person_key_seq'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL DEFAULT 'new' CHECK (created_by IN ('id_exact', 'new'))
);
ALTER SEQUENCE core.person_key_seq OWNED BY core.person.person_key;
COMMENT ON TABLE core.person IS '人员（主索引中的一个人；键为代理键，跨运行稳定） / a person of the master index; the key is a stable surrogate';
COMMENT ON COLUMN core.person.person_key IS '人员键（序列生成，不由身份证号推导） / person key, from a sequence, never derived from an ID number';
COMMENT ON COLUMN core.person.created_at IS '创建时间 / when the key was created';
COMMENT ON COLUMN core.person.created_by IS '创建原因：id_exact 新身份证号，new 无法关联的记录 / why it was created: an unseen valid ID, or a record that linked to nobody';

CREATE TABLE core.person_id_numbers (
    id_no       text        PRIMARY KEY,
    person_key  bigint      NOT NULL REFERENCES core.person (person_key),
    first_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_id_numbers_person ON core.person_id_numbers (person_key);
COMMENT ON TABLE core.person_id_numbers IS '有效身份证号 → 人员键（精确关联跨运行稳定的依据） / valid ID number → person key: how exact linkage stays stable across runs';
COMMENT ON COLUMN core.person_id_numbers.id_no IS '有效的18位身份证号 / valid 18-character ID number';
COMMENT ON COLUMN core.person_id_numbers.person_key IS '人员键（合并后为现行键） / person key (the current key after merges)';
COMMENT ON COLUMN core.person_id_numbers.first_seen IS '首次出现时间 / when the number was first linked';

CREATE TABLE core.person_key_merges (
    old_key     bigint      NOT NULL REFERENCES core.person (person_key),
    new_key     bigint      NOT NULL REFERENCES core.person (person_key),
    merged_at   timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL,
    evidence    jsonb,
    PRIMARY KEY (old_key),
    CHECK (old_key <> new_key)
);
CREATE INDEX person_key_merges_new ON core.person_key_merges (new_key);
COMMENT ON TABLE core.person_key_merges IS '人员键合并记录（旧键 → 保留的较早键；从不删除） / person key merges, old key → the older key kept; never deleted';
COMMENT ON COLUMN core.person_key_merges.old_key IS '被合并的键 / the key merged away';
COMMENT ON COLUMN core.person_key_merges.new_key IS '保留的键（合并时） / the key kept at the time of the merge';
COMMENT ON COLUMN core.person_key_merges.merged_at IS '合并时间 / when';
COMMENT ON COLUMN core.person_key_merges.reason IS '合并原因 / why (id_exact, probabilistic, birth_certificate …)';
COMMENT ON COLUMN core.person_key_merges.evidence IS '证据（记录引用与比较等级，不含原始值） / evidence: record references and comparison levels, no raw values';

CREATE FUNCTION core.current_person_key(key bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain (k, depth) AS (
        SELECT key, 0
        UNION ALL
        SELECT m.new_key, c.depth + 1 FROM chain c JOIN core.person_key_merges m ON m.old_key = c.k
        WHERE c.depth < 100
    )
    SELECT k FROM chain ORDER BY depth DESC LIMIT 1
$$;
COMMENT ON FUNCTION core.current_person_key(bigint) IS '任一（旧）人员键的现行键 / the current key of any person key, old or current';

CREATE VIEW core.person_current_key AS
SELECT p.person_key, core.current_person_key(p.person_key) AS current_key
FROM core.person p;
COMMENT ON VIEW core.person_current_key IS '每个人员键（含已合并的旧键）的现行键 / every person key, merged ones included, with its current key';
COMMENT ON COLUMN core.person_current_key.person_key IS '人员键（可能是旧键） / a person key, possibly merged away';
COMMENT ON COLUMN core.person_current_key.current_key IS '现行键 / the key it resolves to now';

CREATE TABLE core.record_link (
    feed               text             NOT NULL,
    source_key         text             NOT NULL,
    role               text             NOT NULL
        CHECK (role IN ('subject', 'child', 'mother', 'father', 'wife', 'husband')),
    person_key         bigint           NOT NULL REFERENCES core.person (person_key),
    method             text             NOT NULL CHECK (method IN ('id_exact', 'probabilistic', 'new')),
    match_probability  double precision CHECK (match_probability BETWEEN 0 AND 1),
    linked_at          timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, source_key, role)
);
CREATE INDEX record_link_person ON core.record_link (person_key);
COMMENT ON TABLE core.record_link IS '记录中每个人员角色 → 人员键（WAREHOUSE.md 公布接口） / one row per person role in an accepted source record (published in WAREHOUSE.md)';
COMMENT ON COLUMN core.record_link.feed IS '数据项 / feed';
COMMENT ON COLUMN core.record_link.source_key IS '来源键：键列规范值以 | 连接 / source key: the key columns'' normalised values joined by |';
COMMENT ON COLUMN core.record_link.role IS '角色（subject、child、mother、father、wife、husband） / role';
COMMENT ON COLUMN core.record_link.person_key IS '人员键 / person key';
COMMENT ON COLUMN core.record_link.method IS '关联方式：id_exact 身份证号精确，probabilistic 概率或出生证，new 新建 / how it linked';
COMMENT ON COLUMN core.record_link.match_probability IS '匹配概率（精确为1） / match probability, 1 for exact';
COMMENT ON COLUMN core.record_link.linked_at IS '本行最后写入时间 / when the row was last written';

CREATE TABLE ops.clerical_review (
    review_id             bigserial        PRIMARY KEY,
    mention_id            text             NOT NULL,
    feed                  text             NOT NULL,
    source_key            text             NOT NULL,
    role                  text             NOT NULL,
    person_key            bigint           NOT NULL REFERENCES core.person (person_key),
    candidate_person_key  bigint           NOT NULL REFERENCES core.person (person_key),
    candidate_mention_ids text[]           NOT NULL,
    match_probability     double precision NOT NULL,
    evidence              text,
    evidence_for          text[]           NOT NULL,
    evidence_against      text[]           NOT NULL,
    agency                text             NOT NULL DEFAULT 'engineers',
    created_at            timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (mention_id, candidate_person_key)
);
COMMENT ON TABLE ops.clerical_review IS '待人工复核的不确定匹配（每次关联运行重算） / pairs whose match is uncertain, recomputed by every linkage run';
COMMENT ON COLUMN ops.clerical_review.review_id IS '复核编号 / review id';
COMMENT ON COLUMN ops.clerical_review.mention_id IS '待定记录（feed|source_key|role） / the record role in doubt';
COMMENT ON COLUMN ops.clerical_review.feed IS '数据项 / feed';
COMMENT ON COLUMN ops.clerical_review.source_key IS '来源键 / source key';
COMMENT ON COLUMN ops.clerical_review.role IS '角色 / role';
COMMENT ON COLUMN ops.clerical_review.person_key IS '该记录目前的人员键 / the person key the record has now';
COMMENT ON COLUMN ops.clerical_review.candidate_person_key IS '可能为同一人的人员键 / the candidate person';
COMMENT ON COLUMN ops.clerical_review.candidate_mention_ids IS '候选人员的记录（feed|source_key|role） / the records of the candidate person';
COMMENT ON COLUMN ops.clerical_review.match_probability IS '匹配概率 / match probability';
COMMENT ON COLUMN ops.clerical_review.evidence IS '模型证据（比较等级，不含原始值） / model evidence: comparison levels, no raw values';
COMMENT ON COLUMN ops.clerical_review.evidence_for IS '一致的属性 / attributes that agree';
COMMENT ON COLUMN ops.clerical_review.evidence_against IS '不一致的属性 / attributes that disagree';
COMMENT ON COLUMN ops.clerical_review.agency IS '接收方（数据工程师） / receiving party: engineers';
COMMENT ON COLUMN ops.clerical_review.created_at IS '生成时间 / when listed';

CREATE TABLE ops.id_corrections (
    feed               text             NOT NULL,
    source_key         text             NOT NULL,
    role               text             NOT NULL,
    sent_id            text             NOT NULL,
    likely_id          text             NOT NULL,
    evidence           text             NOT NULL,
    match_probability  double precision NOT NULL,
    person_key         bigint           NOT NULL REFERENCES core.person (person_key),
    agency             text             NOT NULL,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, source_key, role)
);
CREATE INDEX id_corrections_agency ON ops.id_corrections (agency);
COMMENT ON TABLE ops.id_corrections IS '身份证号未通过校验但高概率关联到有有效号码的人员（发给报送机构） / records whose ID failed validation but linked with high probability to a person with a valid ID, for the agency that sent them';
COMMENT ON COLUMN ops.id_corrections.feed IS '数据项 / feed';
COMMENT ON COLUMN ops.id_corrections.source_key IS '来源键 / source key';
COMMENT ON COLUMN ops.id_corrections.role IS '角色 / role';
COMMENT ON COLUMN ops.id_corrections.sent_id IS '报送的号码（未通过校验） / the ID as sent, failed validation';
COMMENT ON COLUMN ops.id_corrections.likely_id IS '可能的正确号码 / the likely correct ID';
COMMENT ON COLUMN ops.id_corrections.evidence IS '证据（比较等级） / evidence: comparison levels';
COMMENT ON COLUMN ops.id_corrections.match_probability IS '匹配概率 / match probability';
COMMENT ON COLUMN ops.id_corrections.person_key IS '关联到的人员键 / the person linked to';
COMMENT ON COLUMN ops.id_corrections.agency IS '报送机构（接收方） / the agency that sent the record, who receives the row';
COMMENT ON COLUMN ops.id_corrections.created_at IS '生成时间 / when listed';
