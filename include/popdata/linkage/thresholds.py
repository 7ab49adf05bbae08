"""Thresholds of the probabilistic step, with their environment overrides (docs/linkage.md).

- ``link`` (``POPDATA_LINK_THRESHOLD``, default 0.99): a mention whose best candidate scores at
  least this links to that person (method ``probabilistic``).
- ``review`` (``POPDATA_REVIEW_THRESHOLD``, default 0.5): a best candidate in ``[review, link)``
  is listed in ``ops.clerical_review`` and the mention keeps (or gets) a key of its own.
- ``birth_rule`` (0.99): the probability recorded for a birth certificate linked to a police
  registration by mother, birth date and sex (no certificate number in common); a link by
  certificate number is recorded with 1.0.
- ``relation_bayes_factor`` (1000): a candidate in the review band that is related to the person
  of another role of the same record (named together in another record, same household number,
  mother and child) has its odds multiplied by this factor; it links when the result reaches
  ``link`` (docs/linkage.md, "relation").
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LinkThresholds(BaseModel):
    """The probability thresholds of one linkage run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    link: float = Field(default=0.99, gt=0, le=1, description="link at or above")
    review: float = Field(default=0.5, ge=0, le=1, description="clerical review at or above, below link")
    birth_rule: float = Field(default=0.99, gt=0, le=1, description="birth linked by mother, date and sex")
    relation_bayes_factor: float = Field(
        default=1000.0, ge=1, description="odds multiplier of a candidate related to a co-named person"
    )

    @model_validator(mode="after")
    def _ordered(self) -> LinkThresholds:
        if self.review > self.link:
            raise ValueError(f"review threshold {self.review} is above the link threshold {self.link}")
        return self


def load_thresholds() -> LinkThresholds:
    """The thresholds, from ``POPDATA_LINK_THRESHOLD`` / ``POPDATA_REVIEW_THRESHOLD`` or the defaults."""
    values: dict[str, float] = {}
    for field, env in (("link", "POPDATA_LINK_THRESHOLD"), ("review", "POPDATA_REVIEW_THRESHOLD")):
        raw = os.environ.get(env)
        if raw:
            try:
                values[field] = float(raw)
            except ValueError as exc:
                raise ValueError(f"{env}={raw!r} is not a number") from exc
    return LinkThresholds(**values)
