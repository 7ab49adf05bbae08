"""Probabilistic mention → person scoring with Splink 5 (DuckDB backend, ``link_only``).

Two entry points:

* :func:`score_candidates` scores every blocked (mention, person) pair with the trained model
  in ``model/splink_model.json`` and returns the pairs at or above ``min_probability`` with
  an ``evidence`` string of comparison levels (never raw values);
* :func:`train_model` estimates the model and writes the JSON artefact.  It is run by a
  command (``popdata link train``), never at every linkage run; the artefact is versioned.

Training method (chosen over pairwise labels, see ``model/README.md``):

1. ``u`` probabilities by random sampling of (mention, person) pairs (almost all non-matches);
2. ``m`` probabilities by expectation maximisation on two blocked pair sets, so that every
   comparison is estimated at least once without looking at the column it was blocked on:
   pairs sharing an identity number (estimates name, birth date, sex, region, mother,
   household) and pairs sharing birth date and surname pinyin (estimates name, id, sex,
   region, mother, household).  Labels from "same valid id" pairs would leave the id
   comparison itself untrainable (its m for *exact* would be 1 by construction) and would
   describe only the records that carry a valid id, which are not the ones this model is
   for (mentions with a missing or invalid id);
3. the prior ``probability_two_random_records_match`` is **not** taken from training: at
   scoring time it is set to ``1 / len(persons)`` because each mention refers to at most one
   person of the spine.

Splink 5 API used: ``DuckDBAPI().register(df, dataset_display_name=...)`` then
``Linker([mentions_sdf, persons_sdf], settings)``; ``linker.training.*``,
``linker.inference.predict``, ``linker.misc.save_model_to_json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from popdata.linkage.comparisons import COMPARISONS, prepare_frame, settings_dict

MAX_PRIOR = 0.5
"""Cap of the prior ``1 / len(persons)``: a warehouse holding one person (a county whose first
data is one village birth report) would otherwise give Splink a prior of 1 (infinite log-odds)."""

log = logging.getLogger(__name__)

#: The versioned, trained model used by :func:`score_candidates` by default.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "model" / "splink_model.json"

#: Smallest m probability of a non-null comparison level after training (see smooth_parameters).
M_FLOOR = 1e-3

MENTIONS_NAME = "mentions"
PERSONS_NAME = "persons"

OUTPUT_COLUMNS = ["mention_id", "person_key", "match_probability", "match_weight", "evidence"]

#: EM blocking rules used in training (see module docstring).
EM_BLOCKING_RULES: tuple[str, ...] = (
    'l."id_no" = r."id_no"',
    'l."dob" = r."dob" AND l."surname_py" = r."surname_py"',
)


def _linker(mentions_prepped: pd.DataFrame, persons_prepped: pd.DataFrame, settings: dict[str, Any]) -> Any:
    """A Splink ``Linker`` over the two prepared frames in a fresh in-memory DuckDB."""
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI()
    db_api.duckdb_con.execute("SET enable_progress_bar = false")  # no progress bars in task logs
    m_sdf = db_api.register(mentions_prepped, dataset_display_name=MENTIONS_NAME)
    p_sdf = db_api.register(persons_prepped, dataset_display_name=PERSONS_NAME)
    return Linker([m_sdf, p_sdf], settings, log_level=None)


def _quiet_splink() -> None:
    """Keep Splink's INFO chatter out of the application log (warnings still pass)."""
    logging.getLogger("splink").setLevel(logging.WARNING)


def train_model(
    mentions: pd.DataFrame,
    persons: pd.DataFrame,
    out_path: Path,
    *,
    u_max_pairs: float = 2e7,
    seed: int = 20261101,
) -> Path:
    """Estimate the linkage model on ``mentions`` × ``persons`` and save it as Splink JSON.

    Args:
        mentions: mention frame (columns as for :func:`score_candidates`).
        persons: person frame with ``person_key`` and the same attribute columns.
        out_path: where to write the model JSON (parent directories are created).
        u_max_pairs: pairs sampled to estimate ``u`` probabilities.
        seed: seed of the ``u`` sampling, for a reproducible model.

    Returns:
        ``out_path``.
    """
    _quiet_splink()
    t0 = time.perf_counter()
    m_prep = prepare_frame(mentions, "mention_id")
    p_prep = prepare_frame(persons, "person_key")
    prior = min(1.0 / max(len(p_prep), 1), MAX_PRIOR)
    linker = _linker(m_prep, p_prep, settings_dict(prior))
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for rule in EM_BLOCKING_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    model = smooth_parameters(linker.misc.save_model_to_json())
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(model, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.info(
        "linkage model trained on %d mentions x %d persons in %.1f s -> %s",
        len(m_prep),
        len(p_prep),
        time.perf_counter() - t0,
        out_path,
    )
    return out_path


def smooth_parameters(model: dict[str, Any], m_floor: float = M_FLOOR) -> dict[str, Any]:
    """Floor and renormalise the m probabilities of a trained model (returns the same dict).

    EM gives ``m = 0`` (or leaves ``m`` untrained) for a level never seen among matches in
    training — e.g. a true match whose household number or name differs completely — which
    would make that evidence a veto (weight −∞).  Real records do change households and names,
    so every non-null level gets at least ``m_floor``.  A level whose ``u`` could not be
    estimated (never met in the random sample, e.g. a region in another county) gets
    ``u = m``: it carries no evidence either way.
    """
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        ms = [max(float(lv.get("m_probability") or 0.0), m_floor) for lv in levels]
        total = sum(ms)
        for lv, m in zip(levels, ms, strict=True):
            lv["m_probability"] = m / total
            if lv.get("u_probability") is None:
                lv["u_probability"] = lv["m_probability"]
    return model


def load_model_settings(model_path: Path | None = None) -> dict[str, Any]:
    """The trained model (a Splink settings dict) from ``model_path`` or the default artefact."""
    path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
    if not path.is_file():
        raise FileNotFoundError(f"linkage model not found: {path} (train it with `popdata link train`)")
    settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return settings


def evidence_strings(gammas: pd.DataFrame) -> list[str]:
    """``name=pinyin;dob=exact;…`` per row of a frame of ``gamma_<comparison>`` columns."""
    parts: list[list[str]] = []
    for spec in COMPARISONS:
        col = f"gamma_{spec.name}"
        labels = spec.gamma_labels()
        values = gammas[col].to_numpy() if col in gammas.columns else np.full(len(gammas), -1)
        parts.append([f"{spec.key}={labels.get(int(v), 'unknown')}" for v in values])
    return [";".join(row) for row in zip(*parts, strict=True)] if parts else []


def _empty_result() -> pd.DataFrame:
    """An empty result frame with the output columns and dtypes."""
    return pd.DataFrame(
        {
            "mention_id": pd.Series(dtype="object"),
            "person_key": pd.Series(dtype="int64"),
            "match_probability": pd.Series(dtype="float64"),
            "match_weight": pd.Series(dtype="float64"),
            "evidence": pd.Series(dtype="object"),
        }
    )


def score_candidates(
    mentions: pd.DataFrame,
    persons: pd.DataFrame,
    *,
    model_path: Path | None = None,
    min_probability: float = 0.01,
) -> pd.DataFrame:
    """Score every blocked (mention, person) pair; keep those with probability ≥ ``min_probability``.

    Args:
        mentions: ``mention_id`` (str), ``id_no``, ``name`` (Simplified), ``sex`` ('1'/'2'),
            ``birth_date`` (datetime64 or NaT), ``region_code`` (12 digits), ``household_no``,
            ``mother_id``; other columns (``feed``, ``role`` …) are ignored.
        persons: ``person_key`` (int64) and the same attribute columns.
        model_path: a trained model JSON; default :data:`DEFAULT_MODEL_PATH`.
        min_probability: lowest ``match_probability`` returned.

    Returns:
        ``mention_id``, ``person_key``, ``match_probability``, ``match_weight`` and
        ``evidence`` (comparison levels such as ``name=pinyin;dob=exact;sex=agree;…``,
        never record values), sorted by mention then descending probability.  The prior is
        ``1 / len(persons)``: each mention refers to at most one person (at most
        :data:`MAX_PRIOR`: with a single person, 1 would be certainty and Splink's log-odds fail).
    """
    if mentions.empty or persons.empty:
        return _empty_result()
    _quiet_splink()
    settings = load_model_settings(model_path)
    settings["probability_two_random_records_match"] = min(1.0 / len(persons), MAX_PRIOR)
    # Splink emits the gamma_ (level) columns only when matching columns are retained; the raw
    # values stay inside DuckDB: only ids, scores and gammas are selected into pandas.
    settings["retain_matching_columns"] = True
    settings["retain_intermediate_calculation_columns"] = False

    m_prep = prepare_frame(mentions, "mention_id")
    p_prep = prepare_frame(persons, "person_key")
    linker = _linker(m_prep, p_prep, settings)
    threshold = min_probability if min_probability > 0 else None
    pred = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    gamma_cols = ", ".join(f"gamma_{c.name}" for c in COMPARISONS)
    df = linker.misc.query_sql(
        "SELECT unique_id_l, unique_id_r, source_dataset_l, match_probability, match_weight, "
        f"{gamma_cols} FROM {pred.physical_name}",
        output_type="pandas",
    )
    if df.empty:
        return _empty_result()

    left_is_mention = (df["source_dataset_l"] == MENTIONS_NAME).to_numpy()
    mention_id = np.where(left_is_mention, df["unique_id_l"], df["unique_id_r"])
    person_key = np.where(left_is_mention, df["unique_id_r"], df["unique_id_l"])
    out = pd.DataFrame(
        {
            "mention_id": pd.Series(mention_id, dtype="object").astype(str),
            "person_key": pd.Series(person_key).astype("int64"),
            "match_probability": df["match_probability"].astype("float64").to_numpy(),
            "match_weight": df["match_weight"].astype("float64").to_numpy(),
            "evidence": evidence_strings(df),
        }
    )
    if min_probability > 0:
        out = out[out["match_probability"] >= min_probability]
    out = out.sort_values(["mention_id", "match_probability"], ascending=[True, False], kind="stable")
    return out.reset_index(drop=True)


def count_blocked_comparisons(
    mentions: pd.DataFrame,
    persons: pd.DataFrame,
    blocking_rules: tuple[str, ...] | None = None,
    *,
    record_sample_proportion: float = 1.0,
) -> pd.DataFrame:
    """Pairs each blocking rule generates on ``mentions`` × ``persons`` (marginal and cumulative).

    Uses Splink's ``linker.blocking_analysis.count_comparisons_from_blocking_rules``; the
    default rules are :data:`popdata.linkage.comparisons.BLOCKING_RULES`.
    """
    from popdata.linkage.comparisons import BLOCKING_RULES

    _quiet_splink()
    rules = list(blocking_rules if blocking_rules is not None else BLOCKING_RULES)
    linker = _linker(
        prepare_frame(mentions, "mention_id"), prepare_frame(persons, "person_key"), settings_dict()
    )
    records = linker.blocking_analysis.count_comparisons_from_blocking_rules(
        rules, record_sample_proportion=record_sample_proportion
    )
    return pd.DataFrame(
        {
            "rule": rules,
            "marginal": [int(r["marginal_comparison_count"]) for r in records],
            "cumulative": [int(r["cumulative_comparison_count"]) for r in records],
        }
    )
