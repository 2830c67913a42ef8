"""Alembic environment: runs the project's migrations on the URL given by dialer.storage.db."""

from __future__ import annotations

from alembic import context

from dialer.storage.db import make_engine
from dialer.storage.models import Base
from dialer.storage import sms_models  # noqa: F401 - its tables join Base.metadata
from dialer.storage import web_models  # noqa: F401 - its tables join Base.metadata
from dialer.storage import return_call_models  # noqa: F401 - its table joins Base.metadata
from dialer.storage import webhook_models  # noqa: F401 - its tables join Base.metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "dialer.storage.db sets sqlalchemy.url"
engine = make_engine(url)
try:
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()
finally:
    engine.dispose()
