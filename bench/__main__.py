"""`make bench`: run every benchmark; each prints its figures and writes bench/results/<name>.json."""

from __future__ import annotations

import sys

from bench import (
    allocation,
    booking_instructions,
    contention,
    edge_instructions,
    federation,
    gateway,
    latency,
    lighthouse,
    mapping,
    paging,
    training,
    web,
)


def main() -> int:
    contention.main(["--profile"])  # py-spy's top frames go into the result too
    booking_instructions.main([])
    latency.main([])
    mapping.main([])
    paging.main([])
    allocation.main([])
    gateway.main([])
    edge_instructions.main([])
    training.main([])
    federation.main([])
    web.main([])
    lighthouse.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
