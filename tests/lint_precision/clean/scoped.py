"""A scoped_session registry: calling it returns the scope's session; the framework's teardown removes it."""
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session, sessionmaker

engine = create_engine("postgresql+psycopg://app@db/app", pool_size=5, max_overflow=5)
db_session = scoped_session(sessionmaker(bind=engine))
app = Flask(__name__)


@app.route("/users")
def users():
    return [u.name for u in db_session().query(User).all()]


@app.teardown_appcontext
def remove_session(exc=None):
    db_session.remove()
