"""The sidecar as shipped: a real nginx with the example's server block, the real service, an echoing application."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sidecar_stack import Stack, running_stack


@pytest.fixture(scope="session")
def shared_stack() -> Iterator[Stack]:
    with running_stack() as stack:
        yield stack


@pytest.fixture
def sidecar(shared_stack: Stack) -> Stack:
    """The shared stack, its application's record of requests emptied for this test."""
    shared_stack.echo.take()
    return shared_stack


@pytest.fixture
def own_sidecar() -> Iterator[Stack]:
    """A stack of this test's own, whose Redis may be stopped and paused."""
    with running_stack() as stack:
        yield stack
