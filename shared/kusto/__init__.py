"""Kusto access: connections, the embedded engine, the azure-kusto-data client,
request parameters, limits and errors. Importing this package imports no
Kusto client; each backend loads its own library when first used."""
