"""The output: report.py renders results as tables, JSON documents and
streamed rows; schema.py is the JSON envelope and its schema (docs/json.md).
It imports nothing else of the package, so every layer may use it."""
