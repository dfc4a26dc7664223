"""pdm-assets: predictive maintenance as Dagster software-defined assets on Spark."""
