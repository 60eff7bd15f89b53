"""SQLAlchemy storage: store records (customers, orders, returns), conversations and feedback."""

import logging

# Before alembic is imported (it logs its plugin set-up at import): its INFO lines repeat at every start,
# and `assistant.store.database` logs what a migration changed.
logging.getLogger("alembic").setLevel(logging.WARNING)
