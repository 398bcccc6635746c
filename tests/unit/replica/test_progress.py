from cluster.replica.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_idle_is_never_stalled_and_work_without_tokens_is():
    clock = Clock()
    progress = Progress(clock)
    clock.now = 100.0
    assert progress.stalled_s() == 0.0
    progress.begin()  # idle → busy restarts the clock
    clock.now = 103.0
    assert progress.stalled_s() == 3.0
    progress.advanced()
    clock.now = 104.0
    assert progress.stalled_s() == 1.0


def test_a_second_request_does_not_hide_a_stall_and_the_last_end_clears_it():
    clock = Clock()
    progress = Progress(clock)
    progress.begin()
    clock.now = 10.0
    progress.begin()  # arrives while the first has produced nothing
    assert progress.active == 2 and progress.stalled_s() == 10.0
    progress.end()
    progress.end()
    assert progress.stalled_s() == 0.0
