"""The population-data view (人口数据) and the run report: one view model, two renderers."""
