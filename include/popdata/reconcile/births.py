"""The birth side of reconciliation: consolidated births, sex ratio at birth, warning villages,
registration gaps, the dual-system estimate of births and the two birth work lists.

:func:`refresh_births` is the single entry point: it runs ``warehouse/sql/reconcile_births.sql``
in the caller's transaction and rebuilds ``mart.births``, ``mart.sex_ratio_at_birth``,
``mart.warning_villages``, ``mart.birth_registration_gaps``, ``mart.birth_dse``,
``ops.unregistered_births`` and ``ops.registrations_without_certificate`` as of a reference
date (delete + insert, so a re-run gives identical tables).

The statistics are computed in SQL; the pure-Python functions below implement the same
definitions (same formulas, same constants) so they can be unit-tested on known numbers and
the SQL checked against them on fixtures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from popdata.warehouse.scripts import run_script

SQL_PATH = Path(__file__).resolve().parent.parent / "warehouse" / "sql" / "reconcile_births.sql"

Z95 = 1.959963984540054
"""The 97.5 % quantile of the standard normal distribution (two-sided 95 % intervals)."""
GIRL_PROBABILITY = 100 / 206
"""Chance that a birth is a girl at the natural sex ratio of 106 boys per 100 girls."""
SRB_MIN_BIRTHS = 20
"""Fewer births (boys + girls) than this: SRB status ``insufficient``."""
SRB_HIGH = 107.0
"""SRB status ``high`` when the interval's lower bound exceeds this."""
SRB_LOW = 103.0
"""SRB status ``low`` when the interval's upper bound is below this."""
REGISTRATION_DAYS = 30
"""A health birth unregistered for *more* than this many days is ``unregistered``."""
WARNING_WINDOW_YEARS = 3
"""The warning-village rule looks at this many consecutive years."""

TABLES = (
    "mart.births",
    "ops.unregistered_births",
    "ops.registrations_without_certificate",
    "mart.sex_ratio_at_birth",
    "mart.warning_villages",
    "mart.birth_registration_gaps",
    "mart.birth_dse",
)
"""The tables :func:`refresh_births` rebuilds, in the order it fills them."""

SrbStatus = Literal["normal", "high", "low", "insufficient"]


# --- statistics ------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) of a proportion ``successes / n``.

    Bounds are clipped to ``[0, 1]``; ``n`` must be positive.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    nf = float(n)
    p = successes / nf
    centre = (p + z * z / (2.0 * nf)) / (1.0 + z * z / nf)
    half = z * math.sqrt(p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)) / (1.0 + z * z / nf)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def sex_ratio(boys: int, girls: int) -> float | None:
    """Boys per 100 girls; ``None`` without girls."""
    return 100.0 * boys / girls if girls > 0 else None


def srb_interval(boys: int, girls: int, z: float = Z95) -> tuple[float, float | None]:
    """95 % interval of the sex ratio at birth: Wilson on the share of boys, mapped by 100·p/(1−p).

    The upper bound is ``None`` (unbounded) when there are no girls.
    """
    p_low, p_high = wilson_interval(boys, boys + girls, z)
    ci_low = 100.0 * p_low / (1.0 - p_low)
    ci_high = 100.0 * p_high / (1.0 - p_high) if girls > 0 else None
    return ci_low, ci_high


def srb_status(boys: int, girls: int, ci_low: float | None, ci_high: float | None) -> SrbStatus:
    """The contract's SRB status rule.

    ``insufficient`` when boys + girls < 20; ``high`` when ``ci_low`` > 107; ``low`` when
    ``ci_high`` < 103 (an unbounded upper bound, ``None``, is never low); else ``normal``.
    """
    if boys + girls < SRB_MIN_BIRTHS:
        return "insufficient"
    if ci_low is not None and ci_low > SRB_HIGH:
        return "high"
    if ci_high is not None and ci_high < SRB_LOW:
        return "low"
    return "normal"


def warning_p_value(
    second_births: int, second_girls: int = 0, girl_probability: float = GIRL_PROBABILITY
) -> float:
    """Chance of at most ``second_girls`` girls among ``second_births`` births (binomial lower tail).

    With no girl this is the contract's figure, the chance of that many second births with no
    girl: ``(106/206) ** second_births``.
    """
    if second_births < 0 or not 0 <= second_girls <= second_births:
        raise ValueError("need 0 <= second_girls <= second_births")
    q = girl_probability
    return math.fsum(
        math.comb(second_births, k) * q**k * (1.0 - q) ** (second_births - k) for k in range(second_girls + 1)
    )


def is_warning_village(second_births_by_year: list[tuple[int, int]]) -> bool:
    """The warning-village rule for one window: ``(second births, of which girls)`` per year.

    True when each of the three years had at least one second-order birth and none of them
    was a girl.
    """
    if len(second_births_by_year) != WARNING_WINDOW_YEARS:
        raise ValueError(f"need exactly {WARNING_WINDOW_YEARS} years")
    return all(births >= 1 and girls == 0 for births, girls in second_births_by_year)


@dataclass(frozen=True)
class DualSystemEstimate:
    """Chapman's dual-system estimate with its variance and 95 % normal interval."""

    estimate: float
    variance: float
    ci_low: float
    ci_high: float

    @property
    def std_error(self) -> float:
        """Square root of the variance."""
        return math.sqrt(self.variance)


def chapman(n1: int, n2: int, m: int, z: float = Z95) -> DualSystemEstimate:
    """Chapman's estimator ``(n1+1)(n2+1)/(m+1) − 1`` of the total from two lists.

    Variance ``(n1+1)(n2+1)(n1−m)(n2−m) / ((m+1)²(m+2))``; the interval is estimate ± z·sd.
    """
    if min(n1, n2, m) < 0 or m > min(n1, n2):
        raise ValueError("need 0 <= m <= min(n1, n2)")
    estimate = (n1 + 1.0) * (n2 + 1.0) / (m + 1.0) - 1.0
    variance = (n1 + 1.0) * (n2 + 1.0) * (n1 - m) * (n2 - m) / ((m + 1.0) * (m + 1.0) * (m + 2.0))
    sd = math.sqrt(variance)
    return DualSystemEstimate(estimate, variance, estimate - z * sd, estimate + z * sd)


def is_unregistered(birth_date: date, reference_date: date, registered: bool) -> bool:
    """A health birth is unregistered: no police registration and more than 30 days to the reference date."""
    return not registered and (reference_date - birth_date).days > REGISTRATION_DAYS


# --- the refresh -----------------------------------------------------------------------------------


def refresh_births(conn: sa.Connection, reference_date: date) -> dict[str, int]:
    """Rebuild the birth marts and work lists as of ``reference_date`` in the caller's transaction.

    Returns the number of rows of each table afterwards (``{"mart.births": …, …}``). Running it
    twice with the same data and date gives identical tables.
    """
    run_script(conn, SQL_PATH.name, {"reference_date": reference_date})
    return {
        table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()) for table in TABLES
    }
