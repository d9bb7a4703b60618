"""Test session plugins: each local service is started once per session, on a free
127.0.0.1 port, and stopped after."""

pytest_plugins = [
    "tests.fixtures_kusto",
    "tests.fixtures_azurite",
    "tests.fixtures_postgres",
    "tests.queued_app",
    "tests.webhook_receiver",
]
