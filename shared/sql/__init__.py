"""SQL databases (PostgreSQL, SQL Server / Azure SQL, SQLite) for the `sql.query` and
`sql.write` actions: one SQLAlchemy engine per connection per process (`engines`),
identifiers checked and quoted (`identifiers`), Kusto column types mapped to SQL
types and values (`types`), and rows written in batches in one transaction
(`writer`).

SQLAlchemy and the database drivers are imported only when a SQL step runs (cold
start): nothing here imports them at module level.
"""
