"""prometheus-client's private names: a histogram child's bucket bounds and values.

`service.metrics.Tally` adds up a request's observations in plain numbers and
hands the totals over in bulk; prometheus-client has no public call that adds
a sum and per-bucket counts to a histogram (`observe` takes one value). This
module does it on the child's own value objects, which is what `observe`
itself updates:

- `_upper_bounds`: the bucket bounds, ascending, `+Inf` last;
- `_sum`: the value of `<name>_sum`, with `inc`;
- `_buckets`: one value per bound, each counting the observations for which
  it is the first bound at or above the value (not cumulative), with `inc`.

tests/adapters/test_prometheus_adapter.py fails with a message naming what
changed if prometheus-client stops keeping any of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def histogram_bounds(child: Any) -> tuple[float, ...]:
    """The upper bounds of a histogram child's buckets, ascending, `+Inf` last."""
    return tuple(child._upper_bounds)


def add_observations(child: Any, total: float, counts: Sequence[float]) -> None:
    """Add `total` to a histogram child's sum and `counts[i]` to its bucket `i`."""
    child._sum.inc(total)
    for bucket, n in zip(child._buckets, counts, strict=True):
        if n:
            bucket.inc(n)
