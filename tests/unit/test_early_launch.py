"""The early launches of the test session's servers (tests/support/early.py): when each group is
launched and stopped, and that a follower is launched only after its predecessor stopped."""

from __future__ import annotations

from support.early import Early, Group


class Proc:
    """Stands in for a VLLMServer process: records launch and stop in a shared log."""

    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail, self.up = name, log, fail, False

    def launch(self) -> Proc:
        if self.fail:
            raise RuntimeError("no model folder")
        if not self.up:
            self.up = True
            self.log.append(f"+{self.name}")
        return self

    def stop(self) -> None:
        if self.up:
            self.up = False
            self.log.append(f"-{self.name}")


def _plan(log: list[str]) -> Early:
    early = Early()
    early.plan(Group("default", ("live/",), lambda: [Proc("chat", log), Proc("emb", log)]))
    early.plan(Group("classify", ("live/core/classify",), lambda: [Proc("classify", log)]))
    early.plan(Group("keyed", ("live/reliability/",), lambda: [Proc("keyed", log)],
                     after="classify"))
    # The CLI serve test's process (its server is the session's fourth; the test stops it): the
    # first replica takes that slot when it ends, the second the keyed server's.
    early.plan(Group("serve", ("live/cli/serve",), lambda: [Proc("serve", log)],
                     after="classify"))
    early.plan(Group("replica-a", ("live/pool/",), lambda: [Proc("a", log)], after="serve"))
    early.plan(Group("replicas", ("live/pool/",), lambda: [Proc("b", log)], after="keyed"))
    return early


RUN = ["unit/x", "live/core/admin", "live/core/classify::1", "live/core/classify::2",
       "live/cli/serve", "live/reliability/fault::1", "live/reliability/soak",
       "live/packaging/wheel", "live/pool/p2000", "live/server/embedded"]


def _session(early: Early, log: list[str], nodeids: list[str]) -> list[tuple[str, list[str]]]:
    early.collected(nodeids)
    seen = [("collected", list(log))]
    for nodeid in nodeids:
        if nodeid == "live/cli/serve":  # the test stops the server it took (Ctrl-C)
            early.take("serve")[0].stop()
        early.finished(nodeid)
        seen.append((nodeid, list(log)))
    early.stop_all()
    return seen


def _most_at_once(log: list[str]) -> tuple[int, int]:
    """The most servers up at once over ``log``, and how many are up at its end."""
    running, most = 0, 0
    for event in log:
        running += 1 if event[0] == "+" else -1
        most = max(most, running)
    return most, running


def test_each_group_launches_when_its_predecessor_stops_and_never_before() -> None:
    log: list[str] = []
    seen = dict(_session(_plan(log), log, RUN))
    assert seen["collected"] == ["+chat", "+emb", "+classify"]
    assert seen["live/core/classify::1"] == seen["collected"]  # not its last test yet
    assert seen["live/core/classify::2"] == ["+chat", "+emb", "+classify", "-classify", "+keyed",
                                             "+serve"]
    assert seen["live/cli/serve"][-2:] == ["-serve", "+a"]
    assert seen["live/reliability/soak"][-2:] == ["-keyed", "+b"]
    assert seen["live/server/embedded"] == seen["live/reliability/soak"]  # followed by none:
    # left to their fixtures (here: to the end of the session)
    assert _most_at_once(log) == (4, 0)  # the end of the session stops everything
    assert log[-4:] == ["-chat", "-emb", "-a", "-b"]


def test_a_group_whose_predecessor_is_not_selected_launches_when_collection_ends() -> None:
    log: list[str] = []
    early = _plan(log)
    early.collected(["live/reliability/fault::1", "live/pool/p2000"])
    # no classify test: keyed at once; no serve test: the first replica at once too
    assert log == ["+chat", "+emb", "+keyed", "+a"]
    early.finished("live/reliability/fault::1")
    assert log[-2:] == ["-keyed", "+b"]


def test_nothing_is_launched_for_unselected_groups_and_take_builds_new_ones() -> None:
    log: list[str] = []
    early = _plan(log)
    early.collected(["unit/x"])
    assert log == []
    servers = early.take("keyed")
    assert [s.up for s in servers] == [False]  # built, not launched: the fixture starts it
    assert early.take("keyed") is servers


def test_launched_servers_are_the_ones_taken() -> None:
    log: list[str] = []
    early = _plan(log)
    early.collected(["live/core/classify::1"])
    (classify,) = early.take("classify")
    assert classify.up
    assert log.count("+classify") == 1


def test_a_failed_launch_leaves_the_start_and_its_error_to_the_fixture() -> None:
    log: list[str] = []
    early = Early()
    early.plan(Group("broken", ("live/",), lambda: [Proc("ok", log), Proc("bad", log, True)]))
    early.collected(["live/x"])
    assert log == ["+ok", "-ok"]  # the half-launched group is stopped
    fresh = early.take("broken")
    assert [s.up for s in fresh] == [False, False]


def test_jobs_that_are_not_servers_follow_the_same_plan() -> None:
    """The packaging build follows the serve test (it runs while the docs and reliability tests
    do, not beside a replica's boot at the start of langchain); the orphan test's parent
    follows the pool replicas (it boots while the launcher tests before it run)."""
    log: list[str] = []
    early = _plan(log)
    early.plan(Group("wheel", ("live/packaging/",), lambda: [Proc("wheel", log)], after="serve"))
    early.plan(Group("orphan", ("live/server/orphan",), lambda: [Proc("orphan", log)],
                     after="replicas"))
    run = [*RUN[:-1], "live/pool/p200", "live/server/embedded", "live/server/orphan"]
    real_finished = early.finished

    def finished(nodeid: str) -> None:  # the pool fixture stops both replicas after its module
        if nodeid == "live/pool/p200":
            early.take("replica-a")[0].stop()
        real_finished(nodeid)

    early.finished = finished  # type: ignore[method-assign]
    seen = dict(_session(early, log, run))
    assert "+wheel" not in seen["live/core/classify::2"]
    assert seen["live/cli/serve"][-3:] == ["-serve", "+a", "+wheel"]
    assert seen["live/reliability/soak"][-2:] == ["-keyed", "+b"]
    assert "+orphan" not in seen["live/pool/p2000"]  # not the last pool test
    assert seen["live/pool/p200"][-3:] == ["-a", "-b", "+orphan"]
    assert seen["live/server/embedded"] == seen["live/pool/p200"]  # booting meanwhile
    assert _most_at_once([e for e in log if "wheel" not in e])[0] == 4
