"""Loss accounting from publication sequence numbers (ROS-free).

Why: the middleware's own `message_lost` event reported 0 while 1,771 messages were missing in
a burst (measured on this cell). Every DDS writer numbers its samples 1, 2, 3...; rclpy hands
that number to the subscriber (MessageInfo ``publication_sequence_number``), so a gap in it is
a message the publisher sent and the recorder never got.

rclpy does not say which publisher a sample came from. With one publisher on a topic the count
is exact. With several, each sample is attributed to the publisher stream whose last number
directly precedes it (a new stream is opened while fewer streams than known publishers exist);
the gaps so found are marked approximate.

Samples a publisher sent before the recorder matched it are not loss: they are reported as
``before_subscription`` (the first number seen minus one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TopicLoss:
    """Figures for one topic."""

    received: int = 0
    gaps: int = 0                 # messages missing between received ones
    gap_events: int = 0           # how many separate holes
    before_subscription: int = 0  # sent before the recorder matched the publisher
    out_of_order: int = 0         # duplicate or older numbers (not counted as loss)
    publishers: int = 1           # most publishers seen on the graph
    first_sequence: int = 0
    last_sequence: int = 0
    holes: list[tuple[int, int, int]] = field(default_factory=list)  # (first missing, count,
    # log time ns of the sample after the hole), the first MAX_HOLES of them
    streams: list[int] = field(default_factory=list, repr=False)

    @property
    def exact(self) -> bool:
        return self.publishers <= 1

    def summary(self) -> dict[str, int | bool | list]:
        body = asdict(self)
        body.pop("streams")
        body["holes"] = [list(h) for h in self.holes]
        body["exact"] = self.exact
        return body


MAX_HOLES = 50


class LossAccountant:
    """Feed it every received sample's sequence number; read the per-topic figures."""

    def __init__(self) -> None:
        self.topics: dict[str, TopicLoss] = {}

    def set_publishers(self, topic: str, count: int) -> None:
        loss = self.topics.setdefault(topic, TopicLoss())
        loss.publishers = max(loss.publishers, int(count))

    def record(self, topic: str, sequence: int | None, log_time_ns: int = 0) -> None:
        loss = self.topics.setdefault(topic, TopicLoss())
        loss.received += 1
        if not sequence or sequence < 0:  # rmw without sequence numbers: counts only
            return
        if loss.first_sequence == 0:
            loss.first_sequence = sequence
        loss.last_sequence = max(loss.last_sequence, sequence)
        streams = loss.streams
        below = [i for i, last in enumerate(streams) if last < sequence]
        best = max(below, key=lambda i: streams[i]) if below else None
        contiguous = best is not None and streams[best] == sequence - 1
        if best is None or (not contiguous and len(streams) < loss.publishers):
            if best is None and len(streams) >= loss.publishers:
                loss.out_of_order += 1
                return
            streams.append(sequence)
            loss.before_subscription += sequence - 1
            return
        missing = sequence - streams[best] - 1
        if missing:
            loss.gaps += missing
            loss.gap_events += 1
            if len(loss.holes) < MAX_HOLES:
                loss.holes.append((streams[best] + 1, missing, int(log_time_ns)))
        streams[best] = sequence

    @property
    def total_gaps(self) -> int:
        return sum(t.gaps for t in self.topics.values())

    def summary(self) -> dict[str, dict[str, int | bool | list]]:
        return {name: loss.summary() for name, loss in sorted(self.topics.items())}
