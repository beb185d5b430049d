"""Code that looks like the pitfalls but is not SQLAlchemy's: the linter must report nothing here."""
import aiohttp
import requests
import streamlit as st
from requests import Session


def fetch(url):
    http = requests.Session()
    other = Session()
    return http.get(url), other


async def fetch_async(url):
    client = aiohttp.ClientSession()
    return await client.get(url)


def show(rows, started):
    st.text(f"{len(rows)} rows since {started}")
    st.text("time ':now' is a label, not SQL")


MESSAGE = "postgresql+psycopg://app@db/app?sslmode=require"
CLOCK = "10:30:00"
