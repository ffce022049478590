"""Serving the pipeline: the HTTP service with its limits, live streams, segser listen, and the page."""
