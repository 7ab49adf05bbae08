"""Tests of the synthetic county generator (``popdata.generate``).

Small counties (2 000 persons) are generated once per module into temporary folders;
the tests read the files back as the platform would (bytes, encodings, CSV/XLSX) and
compare them with the ground truth and with the agency extract contract. The contract's
headers are written out here on purpose, independently of the generator's own specs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import opencc
import openpyxl
import pytest
from stdnum.cn import ric

from popdata.generate import DefectRates, GenerationSummary, generate_county

PERSONS = 2_000
SEED = 7

# (agency, feed) -> {column: (headers, required)} as in AGENCY_EXTRACTS.md section 3
CONTRACT: dict[tuple[str, str], dict[str, tuple[tuple[str, ...], bool]]] = {
    ("health", "birth_certificates"): {
        "cert_no": (("出生医学证明编号", "证明编号"), True),
        "child_name": (("新生儿姓名", "姓名"), False),
        "child_sex": (("新生儿性别", "性别"), True),
        "birth_date": (("出生日期", "出生时间"), True),
        "birth_order": (("胎次", "孩次"), False),
        "gestation_weeks": (("出生孕周",), False),
        "birth_weight_g": (("出生体重(克)", "体重"), False),
        "facility": (("接生机构名称", "出生地点"), False),
        "mother_name": (("母亲姓名",), True),
        "mother_id": (("母亲有效身份证件号码", "母亲身份证号"), False),
        "father_name": (("父亲姓名",), False),
        "father_id": (("父亲有效身份证件号码", "父亲身份证号"), False),
        "region_code": (("母亲户籍地区划代码", "户籍地区划代码", "户籍地"), False),
        "issue_date": (("签发日期",), False),
    },
    ("health", "death_records"): {
        "death_cert_no": (("死亡证编号", "死亡医学证明编号"), True),
        "name": (("死者姓名", "姓名"), True),
        "id_no": (("身份证号", "有效身份证件号码"), False),
        "sex": (("性别",), False),
        "birth_date": (("出生日期",), False),
        "death_date": (("死亡日期",), True),
        "cause_icd10": (("根本死因ICD编码", "根本死因编码"), False),
        "region_code": (("户籍地区划代码", "户籍地"), False),
        "reporting_unit": (("报告单位",), False),
    },
    ("health", "prenatal_checks"): {
        "check_no": (("检查编号",), True),
        "wife_name": (("女方姓名", "妻子姓名"), True),
        "wife_id": (("女方身份证号",), False),
        "husband_name": (("男方姓名", "丈夫姓名"), False),
        "husband_id": (("男方身份证号",), False),
        "check_date": (("检查日期",), True),
        "facility": (("检查机构",), False),
        "region_code": (("现居住地区划代码", "现住址"), False),
        "result": (("评估结果",), False),
    },
    ("police", "household_registry"): {
        "id_no": (("公民身份号码", "身份证号"), True),
        "name": (("姓名",), True),
        "former_name": (("曾用名",), False),
        "sex": (("性别",), True),
        "ethnicity": (("民族",), False),
        "birth_date": (("出生日期",), True),
        "household_no": (("户号",), True),
        "relation": (("与户主关系",), False),
        "region_code": (("户籍地区划代码", "户籍地址编码"), True),
        "address": (("住址", "户籍地址"), False),
        "marital": (("婚姻状况",), False),
        "status": (("人口状态",), False),
        "registered_date": (("登记日期",), False),
    },
    ("police", "birth_registrations"): {
        "reg_no": (("登记编号", "业务流水号"), True),
        "child_id": (("公民身份号码",), True),
        "child_name": (("姓名",), True),
        "sex": (("性别",), True),
        "birth_date": (("出生日期",), True),
        "birth_cert_no": (("出生医学证明编号",), False),
        "mother_id": (("母亲公民身份号码", "母亲身份证号"), False),
        "father_id": (("父亲公民身份号码", "父亲身份证号"), False),
        "household_no": (("户号",), False),
        "region_code": (("户籍地区划代码",), True),
        "reg_date": (("登记日期", "申报日期"), True),
    },
    ("police", "hukou_cancellations"): {
        "cancel_no": (("注销编号", "业务流水号"), True),
        "id_no": (("公民身份号码",), True),
        "name": (("姓名",), True),
        "reason": (("注销原因",), True),
        "cancel_date": (("注销日期",), True),
        "death_date": (("死亡日期",), False),
        "region_code": (("户籍地区划代码",), False),
    },
    ("police", "migrant_registrations"): {
        "reg_no": (("居住登记编号", "居住证编号"), True),
        "id_no": (("公民身份号码",), True),
        "name": (("姓名",), True),
        "sex": (("性别",), False),
        "birth_date": (("出生日期",), False),
        "hukou_region_code": (("户籍地区划代码", "户籍地"), False),
        "residence_region_code": (("现居住地区划代码", "现住址"), True),
        "reg_date": (("登记日期",), True),
        "expiry_date": (("有效期至",), False),
        "marital": (("婚姻状况",), False),
    },
    ("fp", "birth_approvals"): {
        "app_no": (("申请编号", "受理编号"), True),
        "wife_name": (("女方姓名",), True),
        "wife_id": (("女方身份证号",), True),
        "husband_name": (("男方姓名",), False),
        "husband_id": (("男方身份证号",), False),
        "category": (("登记类别", "生育类别"), True),
        "apply_date": (("申请日期", "受理日期"), True),
        "decision_date": (("审批日期",), False),
        "decision": (("审批结果",), False),
        "region_code": (("户籍地区划代码", "所在村(居)"), True),
    },
    ("fp", "assistance_rolls"): {
        "id_no": (("身份证号",), True),
        "name": (("姓名",), True),
        "sex": (("性别",), False),
        "birth_date": (("出生日期",), False),
        "program": (("扶助项目", "项目名称"), True),
        "year": (("发放年度",), True),
        "amount": (("发放金额", "金额(元)"), True),
        "region_code": (("户籍地区划代码", "所在村(居)"), True),
    },
    ("fp", "social_fee_cases"): {
        "case_no": (("案卷号", "决定书编号"), True),
        "id_no": (("当事人身份证号",), False),
        "name": (("当事人姓名",), True),
        "decision_date": (("征收决定日期",), True),
        "assessed": (("应征金额",), True),
        "collected": (("已征金额", "实征金额"), False),
        "status": (("案件状态",), False),
        "region_code": (("户籍地区划代码",), True),
    },
    ("fp", "annual_targets"): {
        "region_code": (("区划代码",), True),
        "year": (("年度",), True),
        "indicator": (("指标",), True),
        "target": (("目标值",), True),
    },
    ("stats", "regions"): {
        "code": (("统计用区划代码", "代码"), True),
        "name": (("名称",), True),
        "level": (("级别",), True),
        "parent_code": (("上级代码",), False),
        "urban_rural": (("城乡分类代码",), False),
    },
}
EXTRA_HEADERS = {"序号", "备注", "经办人", "录入人", "数据来源", "更新标志", "录入时间"}
ID_COLUMNS = {"mother_id", "father_id", "id_no", "wife_id", "husband_id", "child_id"}
_T2S = opencc.OpenCC("t2s")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    """A county with the default (realistic) defect rates."""
    out = tmp_path_factory.mktemp("county_a")
    return out, generate_county(out, persons=PERSONS, seed=SEED)


@pytest.fixture(scope="module")
def county_again(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same seed generated a second time."""
    out = tmp_path_factory.mktemp("county_b")
    generate_county(out, persons=PERSONS, seed=SEED)
    return out


@pytest.fixture(scope="module")
def county_other_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another seed."""
    out = tmp_path_factory.mktemp("county_c")
    generate_county(out, persons=PERSONS, seed=SEED + 1)
    return out


@pytest.fixture(scope="module")
def clean_county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clean data: ``DefectRates.none()``."""
    out = tmp_path_factory.mktemp("county_clean")
    generate_county(out, persons=PERSONS, seed=SEED, rates=DefectRates.none())
    return out


# ----------------------------------------------------------------------------- helpers
def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _data_files(root: Path) -> list[Path]:
    """Every data file (CSV/XLSX) in the landing zone."""
    return sorted(p for p in (root / "landing").rglob("*") if p.suffix in (".csv", ".xlsx"))


def _truth_files(root: Path) -> dict[str, dict[str, str]]:
    """``truth/files.csv`` by file name (agency/feed/name)."""
    with (root / "truth" / "files.csv").open(encoding="utf-8", newline="") as f:
        return {f"{r['agency']}/{r['feed']}/{r['file_name']}": r for r in csv.DictReader(f)}


def _read_table(path: Path, encoding: str) -> tuple[list[str], list[list[object]]]:
    """Header and data rows of a CSV (decoded with ``encoding``) or XLSX file."""
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
        return [str(h) for h in rows[0]], rows[1:]
    text = path.read_bytes().decode("utf-8-sig" if encoding == "utf-8" else encoding)
    rows2: list[list[object]] = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    return [str(h) for h in rows2[0]], rows2[1:]


def _key(path: Path, root: Path) -> str:
    """``agency/feed/name`` of a landing file."""
    rel = path.relative_to(root / "landing")
    return "/".join(rel.parts)


def _defects(root: Path) -> list[dict[str, str]]:
    """All rows of ``truth/defects.csv``."""
    with (root / "truth" / "defects.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _header_to_column(agency: str, feed: str) -> dict[str, str]:
    """Contract header (any synonym) → column name."""
    out: dict[str, str] = {}
    for column, (headers, _) in CONTRACT[(agency, feed)].items():
        for h in headers:
            out.setdefault(h, column)
    return out


# ----------------------------------------------------------------------------- tests
def test_same_seed_gives_identical_bytes(county: tuple[Path, GenerationSummary], county_again: Path) -> None:
    """Every file (landing and truth) is byte-identical for the same seed."""
    a, b = _hashes(county[0]), _hashes(county_again)
    assert len(a) > 50
    assert a == b


def test_other_seed_gives_other_files(
    county: tuple[Path, GenerationSummary], county_other_seed: Path
) -> None:
    """A different seed changes the data (the registry snapshots differ)."""
    a, b = _hashes(county[0]), _hashes(county_other_seed)
    registry = [k for k in a if "household_registry_20140630.csv" in k and k.endswith(".csv")]
    assert registry
    assert all(a[k] != b.get(k) for k in registry)
    assert a["truth/persons.csv"] != b["truth/persons.csv"]


def test_every_feed_folder_has_files(county: tuple[Path, GenerationSummary]) -> None:
    """All 12 feeds of the contract's section 3 have at least one data file."""
    root = county[0]
    for agency, feed in CONTRACT:
        folder = root / "landing" / agency / feed
        files = [p for p in folder.iterdir() if p.suffix in (".csv", ".xlsx")] if folder.is_dir() else []
        assert files, f"no files in {agency}/{feed}"
    agencies = {p.name for p in (root / "landing").iterdir()}
    assert agencies == {"health", "police", "fp", "stats"}


def test_encodings_follow_the_contract(county: tuple[Path, GenerationSummary]) -> None:
    """Health: UTF-8 with BOM; police: GB18030 (GBK is a subset); stats: UTF-8; fp: XLSX or GBK/Big5 CSV."""
    root = county[0]
    truth = _truth_files(root)
    seen: Counter[str] = Counter()
    for path in _data_files(root):
        data = path.read_bytes()
        agency = path.relative_to(root / "landing").parts[0]
        seen[agency] += 1
        if agency == "health":
            assert path.suffix == ".csv"
            assert data.startswith(b"\xef\xbb\xbf"), path
            data[3:].decode("utf-8")
        elif agency == "police":
            assert path.suffix == ".csv"
            assert not data.startswith(b"\xef\xbb\xbf")
            data.decode("gb18030")
        elif agency == "stats":
            data.decode("utf-8")
        else:
            if path.suffix == ".xlsx":
                assert zipfile.is_zipfile(io.BytesIO(data))
            else:
                encoding = truth[_key(path, root)]["encoding"]
                assert encoding in ("gbk", "big5")
                data.decode(encoding)
    assert set(seen) == {"health", "police", "fp", "stats"}


def test_headers_are_contract_synonyms(county: tuple[Path, GenerationSummary]) -> None:
    """Headers are the contract's synonyms (or a known extra column); required ones are present."""
    root = county[0]
    truth = _truth_files(root)
    broken = {(d["feed"], d["file_name"]) for d in _defects(root) if d["kind"] == "missing_required_column"}
    shuffled = 0
    for path in _data_files(root):
        agency, feed = path.relative_to(root / "landing").parts[:2]
        info = truth[_key(path, root)]
        header, _ = _read_table(path, info["encoding"])
        if info["traditional"] == "true":
            header = [_T2S.convert(h) for h in header]
        mapping = _header_to_column(agency, feed)
        columns = []
        for h in header:
            assert h in mapping or h in EXTRA_HEADERS, f"{path.name}: unexpected header {h!r}"
            if h in mapping:
                columns.append(mapping[h])
        assert len(columns) == len(set(columns)), f"{path.name}: a column appears twice"
        required = {c for c, (_, req) in CONTRACT[(agency, feed)].items() if req}
        missing = required - set(columns)
        if (feed, path.name) in broken:
            assert len(missing) == 1
        else:
            assert not missing, f"{path.name}: missing {missing}"
        if columns != [c for c in CONTRACT[(agency, feed)] if c in columns]:
            shuffled += 1
    assert shuffled > 0


def test_manifests_match_their_files(county: tuple[Path, GenerationSummary]) -> None:
    """A manifest's rows and sha256 match its file, except the injected mismatches."""
    root = county[0]
    truth = _truth_files(root)
    mismatched = {d["file_name"] for d in _defects(root) if d["kind"] == "manifest_mismatch"}
    manifests = sorted((root / "landing").rglob("*.manifest.json"))
    assert manifests
    for m in manifests:
        doc = json.loads(m.read_text(encoding="utf-8"))
        data_path = m.with_name(m.name[: -len(".manifest.json")])
        agency, feed = data_path.relative_to(root / "landing").parts[:2]
        assert (doc["agency"], doc["feed"]) == (agency, feed)
        info = truth[_key(data_path, root)]
        _, rows = _read_table(data_path, info["encoding"])
        sha = hashlib.sha256(data_path.read_bytes()).hexdigest()
        ok = doc["rows"] == len(rows) and doc["sha256"] == sha
        assert ok == (data_path.name not in mismatched), m.name
        assert doc["encoding"] == info["encoding"]
        assert doc["period_start"] <= doc["period_end"]


def test_truth_records_refer_to_existing_persons_and_lines(county: tuple[Path, GenerationSummary]) -> None:
    """Every record role names a real person, an existing file and a line within it."""
    root = county[0]
    truth = _truth_files(root)
    with (root / "truth" / "persons.csv").open(encoding="utf-8", newline="") as f:
        persons = {r["person_id"] for r in csv.DictReader(f)}
    assert len(persons) == PERSONS
    rows_in: dict[str, int] = {}
    for path in _data_files(root):
        rows_in[path.name] = len(_read_table(path, truth[_key(path, root)]["encoding"])[1])
    roles: Counter[str] = Counter()
    with (root / "truth" / "records.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            assert r["person_id"] in persons
            assert r["file_name"] in rows_in, r["file_name"]
            assert 2 <= int(r["line_no"]) <= rows_in[r["file_name"]] + 1
            roles[r["role"]] += 1
    assert set(roles) == {"subject", "child", "mother", "father", "wife", "husband"}


def test_records_point_at_the_right_row(county: tuple[Path, GenerationSummary]) -> None:
    """The registry row named by records.csv carries that person's name (or a logged variant)."""
    root = county[0]
    with (root / "truth" / "persons.csv").open(encoding="utf-8", newline="") as f:
        names = {r["person_id"]: r["name"] for r in csv.DictReader(f)}
    snapshot = sorted((root / "landing" / "police" / "household_registry").glob("*.csv"))[-1]
    header, rows = _read_table(snapshot, "gb18030")
    name_col = header.index("姓名")
    changed = {
        int(d["line_no"]) for d in _defects(root) if d["file_name"] == snapshot.name and d["column"] == "name"
    }
    checked = 0
    with (root / "truth" / "records.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["file_name"] != snapshot.name or int(r["line_no"]) in changed:
                continue
            assert rows[int(r["line_no"]) - 2][name_col] == names[r["person_id"]]
            checked += 1
    assert checked > PERSONS * 0.5


def test_logged_value_defects_are_in_the_files(county: tuple[Path, GenerationSummary]) -> None:
    """Text defects logged for CSV cells are the values written at that line."""
    root = county[0]
    truth = _truth_files(root)
    kinds = {"fullwidth_digits", "leading_apostrophe", "damaged_text", "traditional_script", "name_variant"}
    by_file: dict[str, list[dict[str, str]]] = {}
    for d in _defects(root):
        if d["kind"] in kinds and d["file_name"].endswith(".csv"):
            by_file.setdefault(f"{d['agency']}/{d['feed']}/{d['file_name']}", []).append(d)
    assert by_file
    found = 0
    for key, defects in by_file.items():
        path = root / "landing" / key
        info = truth[key]
        _, rows = _read_table(path, info["encoding"])
        for d in defects:
            row = rows[int(d["line_no"]) - 2]
            if d["value"] in row:
                found += 1
    total = sum(len(v) for v in by_file.values())
    # later defects on the same cell (a space, a lossy encoding) may change the value again
    assert found >= 0.8 * total


def test_clean_data_has_valid_ids_and_no_defects(clean_county: Path) -> None:
    """``DefectRates.none()``: every identity number is 18 characters with a correct check."""
    root = clean_county
    truth = _truth_files(root)
    checked = 0
    for path in _data_files(root):
        agency, feed = path.relative_to(root / "landing").parts[:2]
        header, rows = _read_table(path, truth[_key(path, root)]["encoding"])
        mapping = _header_to_column(agency, feed)
        id_positions = [i for i, h in enumerate(header) if mapping.get(h) in ID_COLUMNS]
        for row in rows:
            for i in id_positions:
                value = row[i]
                if value in (None, ""):
                    continue
                assert isinstance(value, str), (path.name, value)
                assert len(value) == 18 and value[:17].isdigit(), (path.name, value)
                assert value[17] == ric.calc_check_digit(value), (path.name, value)
                checked += 1
    assert checked > PERSONS
    kinds = {d["kind"] for d in _defects(root)}
    assert kinds <= {"no_data_rows", "status_update"}, kinds


def test_rows_by_feed_matches_the_files(county: tuple[Path, GenerationSummary]) -> None:
    """``rows_by_feed`` (summary and summary.json) equals the data rows found in the files."""
    root, summary = county
    truth = _truth_files(root)
    counted: Counter[str] = Counter()
    for path in _data_files(root):
        feed = path.relative_to(root / "landing").parts[1]
        counted[feed] += len(_read_table(path, truth[_key(path, root)]["encoding"])[1])
    assert dict(counted) == summary.rows_by_feed
    doc = json.loads((root / "truth" / "summary.json").read_text(encoding="utf-8"))
    assert doc["rows_by_feed"] == summary.rows_by_feed
    assert summary.files == len(_data_files(root))
    assert summary.persons == PERSONS and summary.seed == SEED


def test_births_truth_matches_certificates(county: tuple[Path, GenerationSummary]) -> None:
    """Each birth listed as in health has its certificate in records.csv with the same child."""
    root = county[0]
    with (root / "truth" / "births.csv").open(encoding="utf-8", newline="") as f:
        births = list(csv.DictReader(f))
    assert births
    child_of_cert: dict[str, str] = {}
    with (root / "truth" / "records.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["feed"] == "birth_certificates" and r["role"] == "child":
                child_of_cert[r["source_key"]] = r["person_id"]
    in_health = [b for b in births if b["in_health"] == "true"]
    assert in_health
    for b in in_health:
        assert child_of_cert[b["cert_no"]] == b["child_person_id"]
    for b in births:
        assert (b["in_police"] == "true") == (b["reg_no"] != "")
