"""Village direct reporting (村直报): clerks report births, deaths, moves and marital changes from a
phone; accepted reports become files of the feed ``fp/village_reports`` and load like any drop.

- :mod:`popdata.intake.reports`  report types, their form fields, and the check of one report
  (the file path's own normalisers and rules: pure, no I/O)
- :mod:`popdata.intake.tokens`   per-village tokens issued by the county (stored as sha256)
- :mod:`popdata.intake.store`    accepting a submission: limits, idempotency, the audit trail
- :mod:`popdata.intake.batch`    writing accepted reports into the landing folder, with a manifest
- :mod:`popdata.intake.app`      the mobile form and the JSON API (FastAPI)

docs/village-reports.md tells the whole path.
"""
