"""The master person index: who is who across every agency's records (docs/linkage.md).

- :mod:`popdata.linkage.roles`: the person roles of each feed (from its YAML) and source keys;
- :mod:`popdata.linkage.mentions`: one *mention* per (feed, source key, role) from the current views;
- :mod:`popdata.linkage.keys`: the pure linking logic (exact ids, births, probabilistic, stable keys);
- :mod:`popdata.linkage.link`: one linkage run against the warehouse, in one transaction;
- :mod:`popdata.linkage.runs`: what each run read (``audit.link_runs``): is there anything new to link?
- :mod:`popdata.linkage.thresholds`: the link and clerical-review thresholds.

Importing this package is cheap (no pandas, no Splink): the DAG files import it.
"""
