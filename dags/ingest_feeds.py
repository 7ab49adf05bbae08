"""Airflow ingest DAGs: one per agency feed, generated from `include/popdata/contracts/feeds/*.yaml`.

This file only orchestrates. The factory (`popdata.orchestration`) reads the
feed configs and builds `ingest__<agency>__<feed>` DAGs; the tasks call the
`popdata` package, which does all the work and is tested without a scheduler.
"""

from popdata.orchestration import build_all

for _dag_id, _dag in build_all().items():
    _dag.doc_md = (_dag.doc_md or "") + "\n\n" + (__doc__ or "")
    globals()[_dag_id] = _dag
