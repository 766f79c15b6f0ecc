"""Call control asks the customer store for a queued caller's account manager (专属座席, the ACD's dedicated
agent): in virtual time, a known customer's call rings their manager though another agent has waited longer."""

from __future__ import annotations

from appliance.acd.models import Modifier
from appliance.customers.models import CustomerInput
from appliance.customers.service import CustomerService
from tests.calls.harness import Harness, control_test
from tests.calls.harness.box import CUSTOMER


@control_test
async def test_a_customers_call_rings_their_account_manager_first(h: Harness) -> None:
    customers = CustomerService(h.data_dir / "records.sqlite3", h.bus, h.clock, lambda no: True)
    customers.open_sync()
    try:
        customers.write_sync(lambda s: s.insert(
            CustomerInput(name="Ada", numbers=(CUSTOMER,), account_manager="1003", area="010"), h.clock.wall()))
        # The harness builds call control without a customer service; the composition root passes
        # `customer_of=customers.lookup_now` (appliance.app.build_telephony), which is what this puts in place.
        h.controller._ctx.customer_of = customers.lookup_now
        await h.change("queues", "sales", modifiers=(Modifier.ACCOUNT_MANAGER,))
        h.login("1001", "1002", "1003")  # 1001 has waited longest: the strategy's choice
        await h.advance(5)
        caller = await h.call_menu("1")
        await h.rung("1003")
        assert not h.legs_to("1001") and not h.legs_to("1002")
        await h.pick_up("1003", caller)
        await h.hang_up_all()
    finally:
        customers.close_sync()
