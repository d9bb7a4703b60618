"""Kusto Flows: the flow execution package.

Importing it is cheap on purpose (the Functions host imports it at cold start):
no matplotlib, pandas or duckdb here; those load where a step needs them.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
