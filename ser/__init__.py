"""Speech emotion recognition, the library the app, the CLI, training and benchmarks share, in parts (bottom first):
`audio`, `encoders`, `models` (with `models.hub`), `inference` and `profile`, `evaluation`, `plots`, `teaching`, `cli`.
docs/architecture.md draws them; tests/test_import_graph.py checks each imports only the parts below it."""

__version__ = "0.1.0"
