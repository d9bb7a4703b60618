"""Mail: compose MIME messages and deliver them (local outbox or Azure
Communication Services)."""
