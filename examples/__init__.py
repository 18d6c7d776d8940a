"""Example models: defined here, trained in seconds on data a package ships, or random weights."""
