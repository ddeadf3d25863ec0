"""Issue 6: a tenant's throttling never stalls the other tenants of a bulk run."""

from __future__ import annotations

from kodo_provision.simulator import Faults

from .conftest import customer, many_tenants, report, start, write_tenants_csv

RETRY_AFTER_S = 2


def test_one_throttled_tenant_backs_off_alone(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(4)]
    with start(many_tenants(4)) as sim:
        slow = sim.tenant(tenants[0]).id
        sim.set_faults(Faults(throttle_first={slow: 3}, retry_after_s=RETRY_AFTER_S))
        # Real time: the claim is about what the other tenants do while one waits out its Retry-After.
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes",
                 "--concurrency", "4", real_time=True)
        assert {t["status"] for t in report(tmp_path / "out")["tenants"]} == {"succeeded"}
        graph = [r for r in sim.request_log if r.kind == "graph" and not r.in_batch]
        mine = sorted((r for r in graph if r.tenant_id == slow), key=lambda r: r.start)
        throttled = [r for r in mine if r.status == 429]
        assert len(throttled) == 3
        # Retry-After honoured: the tenant's next request never comes sooner.
        for refused in throttled:
            following = [r for r in mine if r.start > refused.end]
            assert following and following[0].start - refused.end >= RETRY_AFTER_S - 0.05
        # Meanwhile the others finished: every request of theirs ended before the throttled tenant
        # got its first answer that was not a 429.
        first_served = min(r.start for r in mine if r.status != 429)
        others = [r for r in graph if r.tenant_id != slow and r.tenant_id in {sim.tenant(t).id for t in tenants}]
        assert others and max(r.end for r in others) < first_served
