"""What happens to each true birth and death across agencies (the reporting plan).

Decided once, before any file is written, so that every agency's files agree: which
births get a birth certificate (出生医学证明) and when, which are registered with the
police (出生登记) and when, which deaths get a death certificate and a hukou
cancellation (户口注销), and which elderly people still carry a 15-digit number.
The reporting gaps (births never registered, registrations without a certificate,
deaths never cancelled) come from :class:`~popdata.generate.rates.DefectRates`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from popdata.generate.population import Population
from popdata.generate.rates import DefectRates

BoolArray = npt.NDArray[np.bool_]
DayArray = npt.NDArray[np.datetime64]
IntArray = npt.NDArray[np.int64]
NAT = np.datetime64("NaT", "D")


def lag_days(rng: np.random.Generator, n: int, median: float, sigma: float, cap: int) -> IntArray:
    """Log-normal reporting delays in days (at least 1, at most ``cap``)."""
    d = np.exp(np.log(median) + sigma * rng.standard_normal(n))
    return np.clip(np.round(d), 1, cap).astype(np.int64)


@dataclass(frozen=True)
class Plan:
    """Per-birth and per-death reporting decisions (arrays aligned with their tables).

    Births (aligned with ``population.births``): ``has_cert``, ``cert_issue``,
    ``not_registered`` (a gap injected by the rates), ``home_birth`` (registered
    without certificate), ``reg_date`` (NaT when never registered; may fall after the
    end date, then not yet registered).
    Deaths (``death_person`` = person indexes of everyone who died): ``certified``,
    ``death_report``, ``never_cancelled``, ``cancel_date`` (NaT if none).
    Persons: ``id15`` (shown with the old 15-digit number in the registry).
    """

    has_cert: BoolArray
    cert_issue: DayArray
    not_registered: BoolArray
    home_birth: BoolArray
    reg_date: DayArray
    death_person: IntArray
    certified: BoolArray
    death_report: DayArray
    never_cancelled: BoolArray
    cancel_date: DayArray
    id15: BoolArray


def plan_events(pop: Population, rates: DefectRates, rng: np.random.Generator) -> Plan:
    """Decide the reporting of every birth and death."""
    b = pop.births
    nb = len(b)
    birth = b["birth"].to_numpy().astype("datetime64[D]")
    migrant = b["migrant"].to_numpy(dtype=bool)
    home = ~migrant & (rng.random(nb) < rates.registration_without_certificate)
    has_cert = ~home
    issue = birth + np.minimum(rng.geometric(0.45, nb) - 1, 20).astype("timedelta64[D]")
    cert_issue = np.where(has_cert, issue, NAT)
    not_reg = ~migrant & has_cert & (rng.random(nb) < rates.birth_not_registered)
    reg_lag = lag_days(rng, nb, 21.0, 0.75, 400)
    reg_date = np.where(~migrant & ~not_reg, birth + reg_lag.astype("timedelta64[D]"), NAT)
    # a baby who died before the registration is never registered
    child_death = pop.persons["death"].to_numpy().astype("datetime64[D]")[b["child"].to_numpy()]
    died_first = ~np.isnat(child_death) & ~np.isnat(reg_date) & (child_death < reg_date)
    reg_date = np.where(died_first, NAT, reg_date)

    p = pop.persons
    death = p["death"].to_numpy().astype("datetime64[D]")
    who = np.flatnonzero(~np.isnat(death))
    nd = len(who)
    d = death[who]
    certified = rng.random(nd) < 0.96
    report = d + np.minimum(rng.geometric(0.2, nd) - 1, 40).astype("timedelta64[D]")
    resident = ~p["migrant"].to_numpy(dtype=bool)[who]
    never = resident & (rng.random(nd) < rates.death_not_cancelled)
    cancel = np.where(resident & ~never, d + lag_days(rng, nd, 24.0, 0.7, 500).astype("timedelta64[D]"), NAT)

    eligible = p["id15_eligible"].to_numpy(dtype=bool)
    id15 = eligible & (rng.random(len(p)) < rates.id_15_digit)
    return Plan(
        has_cert=has_cert,
        cert_issue=cert_issue.astype("datetime64[D]"),
        not_registered=not_reg,
        home_birth=home,
        reg_date=reg_date.astype("datetime64[D]"),
        death_person=who.astype(np.int64),
        certified=certified,
        death_report=report.astype("datetime64[D]"),
        never_cancelled=never,
        cancel_date=cancel.astype("datetime64[D]"),
        id15=id15,
    )
