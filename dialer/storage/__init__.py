"""SQL: the SQLAlchemy 2 models, sessions and Alembic migrations, the SQL worker pool, and the
repositories split by what they own (claims, endings, nodes, IVR, SMS, web, webhooks, return calls,
...). Of the dialer it imports only domain and runtime, plus scheduler (pure rules, used like a
library); never the layers above."""
