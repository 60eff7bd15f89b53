"""SQLAlchemy storage: store records (customers, orders, returns), conversations and feedback."""
