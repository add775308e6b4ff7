"""NewestSlot: the worker always gets the newest item, replaced items are counted, close releases the worker."""

import threading

from spot_ros.newest import NewestSlot


def test_take_returns_the_newest_and_counts_replaced_items():
    slot = NewestSlot()
    for item in range(5):
        slot.put(item)
    assert slot.take(timeout=0) == 4
    assert (slot.received, slot.dropped) == (5, 4)
    assert slot.take(timeout=0.01) is None  # nothing new: the worker waits instead of re-processing


def test_close_releases_a_waiting_taker():
    slot = NewestSlot()
    taken = []
    worker = threading.Thread(target=lambda: taken.append(slot.take()))
    worker.start()
    slot.close()
    worker.join(timeout=2)
    assert not worker.is_alive() and taken == [None]


def test_a_closed_slot_lets_go_of_its_item_and_refuses_new_ones_until_reopened():
    slot = NewestSlot()
    slot.put("2 MB cloud")
    slot.close()  # deactivate: the waiting cloud is not kept
    slot.put("arrived while inactive")
    assert (slot.received, slot.dropped) == (1, 0)
    slot.reopen()
    assert slot.take(timeout=0) is None  # neither the cloud from before nor the one sent while closed
    slot.put("next")
    assert slot.take(timeout=0) == "next" and slot.received == 2
