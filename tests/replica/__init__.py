"""A local replica of the CSRC EID fund XBRL site for tests, chaos runs and benches.

    from tests.constants import CORPUS_DIR
    from tests.replica import Replica
    with Replica(corpus=CORPUS_DIR, generate=100, seed=1) as site:
        site.url                          # http://127.0.0.1:<port>
        ids = site.publish(20, "FB030020", "2025", faults={"not_found": 1})
        site.set_faults(0.2)              # 20% of URLs fail transiently on their first attempts
        site.set_order("drift", inserts_per_call=1, max_inserts=20)
        site.oracle(ids)                  # id -> expected sha256, terminal state and reason
        site.log()                        # every request with its fault decision

Run as a process: ``python -m tests.replica --port 8000 --corpus ../shared/corpus --generate 500 --seed 1``
(prints its URL, stops on SIGTERM/SIGINT), and drive it from anywhere with ``Replica(url=...)`` or plain HTTP
under ``/_replica/`` (routes in ``control.py``). Pages come from the corpus directory given at start or from
``generate_page`` (``generator.py``), never from files in the repo.

Modules: ``server`` (HTTP), ``search`` / ``routes`` / ``extras`` (the site's endpoints), ``catalogue`` /
``corpus`` / ``synthetic`` (what is listed), ``faults`` / ``bodies`` / ``canary`` (what goes wrong),
``generator`` / ``portfolio`` / ``sections`` / ``holdings`` / ``profile`` / ``markup`` (synthetic pages),
``control`` / ``handle`` (driving it).
"""

from tests.replica.generator import GeneratedPage, PageSpec, generate_page
from tests.replica.handle import Replica, build_server

__all__ = ["GeneratedPage", "PageSpec", "Replica", "build_server", "generate_page"]
