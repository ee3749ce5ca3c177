"""When things happen: Every(n) at its edges, and the train ratio."""

from agent.loop.ratio import Every, Ratio


def test_every_is_due_at_each_multiple_and_not_in_between():
    every = Every(500)
    assert [every(step) for step in (0, 1, 499, 500, 501, 999, 1000, 1000)] == [
        False, False, False, True, False, False, True, False]


def test_every_counts_a_jump_over_a_multiple_once():
    every = Every(500)
    assert every(499) is False
    assert every(1003) is True  # past 500 and 1000 in one jump: one event
    assert every(1499) is False and every(1500) is True


def test_every_zero_is_never_due():
    every = Every(0)
    assert not any(every(step) for step in range(0, 5000, 7))


def test_every_continues_from_its_state_dict():
    every = Every(100)
    every(250)
    resumed = Every(100)
    resumed.load_state_dict(every.state_dict())
    assert [resumed(s) for s in (260, 299, 300)] == [every(s) for s in (260, 299, 300)] == [
        False, False, True]


def test_ratio_keeps_pace_and_carries_fractions_through_its_state_dict():
    ratio = Ratio(train_ratio=64, batch_size=16, seq_len=16)  # 0.25 updates per env step
    assert [ratio(steps) for steps in (1, 2, 3, 4, 8)] == [0, 0, 0, 1, 1]
    resumed = Ratio(64, 16, 16)
    resumed.load_state_dict(ratio.state_dict())
    assert resumed(12) == 1 and resumed(13) == 0
