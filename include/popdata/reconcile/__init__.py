"""Cross-agency reconciliation: the marts and work lists of the warehouse contract (WAREHOUSE.md)."""
