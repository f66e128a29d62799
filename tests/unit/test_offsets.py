"""The offset ledger under every completion order (Hypothesis): what it releases, fed to Faust's own commit logic
(`Consumer._new_offset`, faust-streaming 0.15.3), never commits past a post that has not ended. The same orders fed
to Faust directly (acking each batch when it finishes, as the worker did) do lose posts: the test can fail."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.offsets import OffsetLedger


class FaustCommits:
    """Faust's ack and commit bookkeeping for some partitions, driven by the real `_new_offset`/`_should_commit`."""

    def __init__(self, committed: dict):
        self.c = SimpleNamespace(
            _acked=defaultdict(list),
            _acked_index=defaultdict(set),
            _gap=defaultdict(list),  # no gaps: the offsets below are contiguous
            _committed_offset=defaultdict(lambda: None, committed),
        )

    def ack(self, tp, offset) -> None:  # Consumer.ack, without the lock and the message object
        committed = self.c._committed_offset[tp]
        if (committed is None or offset >= committed) and offset not in self.c._acked_index[tp]:
            self.c._acked_index[tp].add(offset)
            self.c._acked[tp].append(offset)

    def commit(self) -> None:  # Consumer._commit_tps -> _filter_committable_offsets, then the commit succeeds
        for tp in list(self.c._acked):
            offset = Consumer._new_offset(self.c, tp)
            if offset is not None and Consumer._should_commit(self.c, tp, offset):
                self.c._committed_offset[tp] = offset


@st.composite
def scenarios(draw):
    """Messages of up to 3 partitions taken in one interleaved order, cut into batches, finished in a random order."""
    n_parts = draw(st.integers(1, 3))
    bases = [draw(st.integers(0, 50)) for _ in range(n_parts)]
    order = draw(st.lists(st.integers(0, n_parts - 1), min_size=1, max_size=60))
    nxt = list(bases)
    messages = []
    for p in order:
        messages.append((p, nxt[p]))
        nxt[p] += 1
    cuts = sorted(set(draw(st.lists(st.integers(1, len(messages)), max_size=12))) | {len(messages)})
    batches, start = [], 0
    for c in cuts:
        batches.append(messages[start:c])
        start = c
    finish_order = draw(st.permutations(range(len(batches))))
    # nothing committed yet (a new group: Faust skips its head check), or committed up to each partition's base
    committed = draw(st.sampled_from([{}, {p: b for p, b in enumerate(bases)}]))
    return bases, batches, finish_order, committed


def _first_unfinished(batches, finished, tp) -> int | None:
    return min((o for i, b in enumerate(batches) if i not in finished for p, o in b if p == tp), default=None)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_committed_offsets_never_pass_a_post_in_progress(scenario):
    bases, batches, finish_order, committed = scenario
    ledger = OffsetLedger()
    faust = FaustCommits(committed)
    tickets = [ledger.take((p, o, (p, o)) for p, o in b) for b in batches]
    finished, released = set(), []
    for i in finish_order:
        for p, o in ledger.finish(tickets[i]):
            faust.ack(p, o)
            released.append((p, o))
        finished.add(i)
        faust.commit()
        for tp in range(len(bases)):
            first = _first_unfinished(batches, finished, tp)
            got = faust.c._committed_offset[tp]
            assert first is None or got is None or got <= first, (tp, got, first)
    assert sorted(released) == sorted(m for b in batches for m in b)  # each message released once, in the end
    assert ledger.held() == 0
    for tp, base in enumerate(bases):
        taken = sum(1 for b in batches for p, _ in b if p == tp)
        if taken:
            assert faust.c._committed_offset[tp] == base + taken


def test_acking_each_batch_as_it_finishes_commits_past_a_slow_one():
    """The worker's old way (and the issue's reproduction): offsets 0-9, a slow batch at 10, a fast one at 11 that
    finishes first. Faust commits 12 while 10 is in progress."""
    faust = FaustCommits({})
    for o in range(10):
        faust.ack(0, o)
    faust.commit()
    assert faust.c._committed_offset[0] == 10
    faust.ack(0, 11)  # the fast batch
    faust.commit()
    assert faust.c._committed_offset[0] == 12  # past offset 10, still downloading its image

    ledger, faust = OffsetLedger(), FaustCommits({})
    first = ledger.take((0, o, o) for o in range(10))
    slow, fast = ledger.take([(0, 10, 10)]), ledger.take([(0, 11, 11)])
    for o in ledger.finish(first):
        faust.ack(0, o)
    assert ledger.finish(fast) == []
    faust.commit()
    assert faust.c._committed_offset[0] == 10
    assert ledger.finish(slow) == [10, 11]
    assert ledger.held() == 0


def test_a_seek_back_or_a_revocation_starts_a_new_generation():
    ledger = OffsetLedger()
    old = ledger.take([(0, 5, "a"), (1, 7, "x")])
    ledger.revoke([1])
    assert ledger.unreleased(1) == []
    again = ledger.take([(0, 3, "b")])  # partition 0 re-delivered from 3 (a re-assignment): 5 is never released
    assert ledger.unreleased(0) == [3]
    assert ledger.finish(old) == []
    assert ledger.finish(again) == ["b"]
    assert ledger.held() == 0
