"""The exporter tests run on every store, like the store suite."""

from tests.store.conftest import store_url  # noqa: F401 - the store suite's fixture
