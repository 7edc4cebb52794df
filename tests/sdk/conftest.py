"""Fixtures for running the official Alguna Python SDK against a live Abacus server.

The Rust test `sdk` starts the server and sets ABACUS_BASE_URL, ABACUS_API_KEY (an organization's
key) and ABACUS_OTHER_API_KEY (a second organization's key).
"""

import os
import uuid

import pytest
from alguna import Alguna


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ["ABACUS_BASE_URL"]


@pytest.fixture(scope="session")
def client(base_url) -> Alguna:
    return Alguna(api_key=os.environ["ABACUS_API_KEY"], base_url=base_url, max_retries=2)


@pytest.fixture(scope="session")
def other_client(base_url) -> Alguna:
    return Alguna(api_key=os.environ["ABACUS_OTHER_API_KEY"], base_url=base_url)


@pytest.fixture()
def unique() -> str:
    """A short unique suffix, so tests can share one server."""
    return uuid.uuid4().hex[:10]
