"""An Alembic migration: its session runs on Alembic's connection, which Alembic closes."""
from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session


def upgrade():
    session = Session(bind=op.get_bind())
    session.execute(text("UPDATE users SET active = true WHERE active IS NULL"))
    session.commit()


def downgrade():
    pass
