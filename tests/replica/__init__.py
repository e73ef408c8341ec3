"""A local replica of the CSRC EID fund XBRL site (eid-source.md §9) for tests, chaos runs and benches.

    from tests.replica import Replica
    with Replica(corpus="../shared/corpus", generate=100, seed=1) as site:
        site.url                      # http://127.0.0.1:<port>
        site.publish(20)              # more generated reports
        site.set_faults(0.2)          # 20% of URLs fail transiently first
        site.log()                    # every request, with its fault decision

Run as a process: ``python -m tests.replica --port 8000 --corpus ../shared/corpus --generate 500 --seed 1``.
"""

from tests.replica.generator import GeneratedPage, PageSpec, generate_page
from tests.replica.handle import DEFAULT_CORPUS, Replica, build_server

__all__ = ["DEFAULT_CORPUS", "GeneratedPage", "PageSpec", "Replica", "build_server", "generate_page"]
