"""Cash and margin accounts driven by AccountState."""

from __future__ import annotations

from decimal import Decimal

import pytest

from livenode.model import (
    AccountBalance,
    AccountId,
    AccountState,
    AccountType,
    CashAccount,
    MarginAccount,
    Money,
    Price,
    Quantity,
)

from .factories import BTC, USDT, perpetual

SIM = AccountId("SIM-001")


def bal(total: str, locked: str, currency=USDT) -> AccountBalance:  # type: ignore[no-untyped-def]
    t, lk = Money.new(total, currency), Money.new(locked, currency)
    return AccountBalance(t, lk, t - lk)


def state(
    *balances: AccountBalance, kind: AccountType = AccountType.CASH, account: AccountId = SIM
) -> AccountState:
    return AccountState(
        account_id=account, account_type=kind, balances=list(balances), base_currency=None,
        event_id="e", ts_event=1, ts_init=1,
    )


def test_cash_account_balances_and_queries() -> None:
    acc = CashAccount(state(bal("1000", "100"), bal("1", "0", BTC)))
    assert acc.id == SIM and acc.is_cash_account and not acc.is_margin_account
    assert acc.balance(USDT) == bal("1000", "100")
    assert acc.balance_total(USDT) == Money.new("1000", USDT)
    assert acc.balance_locked(USDT) == Money.new("100", USDT)
    assert acc.balance_free(USDT) == Money.new("900", USDT)
    assert acc.balance() is None  # no base currency
    assert acc.balance_free(Money.zero(USDT).currency) is not None
    assert set(acc.balances()) == {USDT, BTC} and set(acc.currencies) == {USDT, BTC}
    assert acc.event_count == 1 and acc.last_event.balances[0].total == Money.new("1000", USDT)


def test_apply_replaces_only_listed_currencies() -> None:
    acc = CashAccount(state(bal("1000", "0"), bal("1", "0", BTC)))
    acc.apply(state(bal("900", "50")))
    assert acc.balance_total(USDT) == Money.new("900", USDT)
    assert acc.balance_total(BTC) == Money.new("1", BTC)
    assert acc.starting_balances() == {USDT: Money.new("1000", USDT), BTC: Money.new("1", BTC)}
    assert acc.event_count == 2


def test_an_account_keeps_its_latest_states_only() -> None:
    # A venue reports the account on every submit and cancel: the history is bounded,
    # the count is not, and the latest state is the one applied last.
    from livenode.model.accounts import MAX_EVENTS_KEPT

    acc = CashAccount(state(bal("1000", "0")))
    n = 3 * MAX_EVENTS_KEPT
    for i in range(n):
        acc.apply(state(bal("1000", str(i % 7))))
    assert acc.event_count == n + 1
    assert len(acc.events) == MAX_EVENTS_KEPT
    assert acc.last_event is acc.events[-1]
    assert acc.balance_locked(USDT) == Money.new(str((n - 1) % 7), USDT)
    assert acc.starting_balances() == {USDT: Money.new("1000", USDT)}


def test_apply_refuses_other_account_or_type() -> None:
    acc = CashAccount(state(bal("1", "0")))
    with pytest.raises(ValueError, match="SIM-002"):
        acc.apply(state(bal("1", "0"), account=AccountId("SIM-002")))
    with pytest.raises(ValueError, match="MARGIN"):
        acc.apply(state(bal("1", "0"), kind=AccountType.MARGIN))
    with pytest.raises(ValueError, match="CASH AccountState"):
        CashAccount(state(bal("1", "0"), kind=AccountType.MARGIN))


def test_margin_account_leverage_and_margins() -> None:
    acc = MarginAccount(state(bal("10000", "0"), kind=AccountType.MARGIN))
    inst = perpetual()
    assert acc.is_margin_account and acc.leverage(inst.id) == Decimal(1)
    acc.set_leverage(inst.id, 20)
    margin = acc.calculate_initial_margin(inst, Quantity.from_str("1.5"), Price.from_str("30000.0"))
    assert margin == Money.new("2250", USDT)
    acc.set_leverage(inst.id, Decimal("3"))
    assert acc.calculate_initial_margin(inst, Quantity(1, 0), Price(1, 0)) == Money.new(
        "0.33333333", USDT
    )
    with pytest.raises(ValueError):
        acc.set_leverage(inst.id, 0)
    acc.update_margin(inst.id, Money.new("10", USDT), Money.new("5", USDT))
    assert acc.initial_margin(inst.id) == Money.new("10", USDT)
    assert acc.maintenance_margin(inst.id) == Money.new("5", USDT)
    assert acc.margins() == {inst.id: Money.new("10", USDT)}
    acc.clear_margin(inst.id)
    assert acc.initial_margin(inst.id) is None and acc.margins() == {}
