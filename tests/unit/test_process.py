import gc
from collections.abc import Iterator

import pytest

from workorders.process import freeze_startup_objects


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_startup_objects_leave_the_collectors_generations() -> None:
    made_at_startup = [[part] for part in range(10)]
    assert any(o is made_at_startup for o in gc.get_objects())
    freeze_startup_objects()
    assert gc.get_freeze_count() > len(made_at_startup)
    assert not any(o is made_at_startup for o in gc.get_objects())
    made_later: list[list[int]] = [[]]
    assert any(o is made_later for o in gc.get_objects())
