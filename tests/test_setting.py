"""dashboard.setting: secrets.toml first, then the environment; st.secrets without a secrets.toml raises on
access, which means "not set" there."""

from __future__ import annotations

from dashboard.setting import setting


class NoSecretsFile(dict):
    def get(self, key, default=None):
        raise FileNotFoundError("No secrets found")  # what st.secrets does without .streamlit/secrets.toml


def test_secrets_win_then_environment_then_empty():
    env = {"DATABASE_URL": " postgresql://env@h/db "}
    assert setting("DATABASE_URL", {"DATABASE_URL": "postgresql://sec@h/db"}, env) == "postgresql://sec@h/db"
    assert setting("DATABASE_URL", {"DATABASE_URL": "   "}, env) == "postgresql://env@h/db"
    assert setting("DATABASE_URL", NoSecretsFile(), env) == "postgresql://env@h/db"
    assert setting("DATABASE_URL", None, {}) == ""
