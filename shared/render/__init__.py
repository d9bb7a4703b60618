"""Rendering query results for people: charts (and, elsewhere, tables)."""
