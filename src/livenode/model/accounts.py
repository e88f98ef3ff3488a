"""Accounts: the node's view of balances at a venue, driven by `AccountState` events.

`CashAccount` (spot: you hold what you trade) and `MarginAccount` (derivatives:
positions lock margin, leverage per instrument). Both keep one
`AccountBalance(total, locked, free)` per currency; an `AccountState` replaces
the balances of the currencies it lists and leaves the others alone, so a venue
may report one currency at a time.

Memory is bounded (DESIGN "Performance habits"): a venue sends an `AccountState`
whenever an order locks or releases funds (the sim venue: on every submit and
cancel), so an account keeps only its last `MAX_EVENTS_KEPT` states; `event_count`
counts all of them. Nothing needs the older ones: the cache database keeps the first
and the latest state, the run report too, and recovery replays `last_event`.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from livenode.model.enums import AccountType
from livenode.model.events import AccountState
from livenode.model.fixed_point import div_round_half_even
from livenode.model.identifiers import AccountId, InstrumentId
from livenode.model.instruments import Instrument
from livenode.model.objects import AccountBalance, Currency, Money, Price, Quantity

#: The latest `AccountState`s an account keeps (`Account.events`).
MAX_EVENTS_KEPT = 100


class Account:
    """Common behaviour; use `CashAccount` or `MarginAccount`. Never on the bus."""

    account_type: AccountType = AccountType.CASH

    def __init__(self, event: AccountState) -> None:
        if event.account_type is not self.account_type:
            raise ValueError(
                f"{type(self).__name__} {event.account_id} needs a {self.account_type.value} "
                f"AccountState, got {event.account_type.value}"
            )
        self.id: AccountId = event.account_id
        # The state it was created from (its starting balances): what the cache
        # database stores beside the latest state, and a rewrite of it needs.
        self.first_event: AccountState = event
        self.base_currency: Currency | None = event.base_currency
        self._balances: dict[Currency, AccountBalance] = {}
        self._starting: dict[Currency, Money] = {b.currency: b.total for b in event.balances}
        self._events: deque[AccountState] = deque(maxlen=MAX_EVENTS_KEPT)
        self._event_count = 0
        # The execution engine's count of the states applied (`AccountState.version`):
        # what a command's `account_version` is compared with in another process.
        self.version = 0
        self.apply(event)

    def apply(self, event: AccountState) -> None:
        """Apply a state event: its balances replace those of the same currencies."""
        if event.account_id != self.id:
            raise ValueError(f"account {self.id}: AccountState is for {event.account_id}")
        if event.account_type is not self.account_type:
            raise ValueError(
                f"account {self.id}: AccountState type {event.account_type.value} "
                f"!= {self.account_type.value}"
            )
        self.update_balances(event.balances)
        self._events.append(event)  # maxlen drops the oldest
        self._event_count += 1
        # A state published by the execution engine carries its count; one made here
        # (the engine itself, a venue) counts on.
        self.version = event.version or self.version + 1

    def update_balances(self, balances: list[AccountBalance]) -> None:
        """Replace the balances of the given currencies (e.g. computed locally after a fill)."""
        for balance in balances:
            self._balances[balance.currency] = balance

    # -- queries ----------------------------------------------------------------------

    def balances(self) -> dict[Currency, AccountBalance]:
        """Balance per currency (a copy)."""
        return dict(self._balances)

    def balance(self, currency: Currency | None = None) -> AccountBalance | None:
        """The balance in `currency` (default: the base currency), None if unknown."""
        currency = currency or self.base_currency
        return None if currency is None else self._balances.get(currency)

    def balance_total(self, currency: Currency | None = None) -> Money | None:
        """Total in `currency`, None if unknown."""
        balance = self.balance(currency)
        return None if balance is None else balance.total

    def balance_free(self, currency: Currency | None = None) -> Money | None:
        """Free (available) amount in `currency`, None if unknown."""
        balance = self.balance(currency)
        return None if balance is None else balance.free

    def balance_locked(self, currency: Currency | None = None) -> Money | None:
        """Locked amount in `currency`, None if unknown."""
        balance = self.balance(currency)
        return None if balance is None else balance.locked

    def starting_balances(self) -> dict[Currency, Money]:
        """Totals of the first state event (a copy)."""
        return dict(self._starting)

    @property
    def currencies(self) -> list[Currency]:
        """Currencies with a balance."""
        return list(self._balances)

    @property
    def events(self) -> list[AccountState]:
        """The last states applied (at most `MAX_EVENTS_KEPT`), oldest first (a copy)."""
        return list(self._events)

    @property
    def last_event(self) -> AccountState:
        """The latest state applied."""
        return self._events[-1]

    @property
    def event_count(self) -> int:
        """Number of states applied (all of them, not only those kept)."""
        return self._event_count

    @property
    def is_cash_account(self) -> bool:
        """True for a cash account."""
        return self.account_type is AccountType.CASH

    @property
    def is_margin_account(self) -> bool:
        """True for a margin account."""
        return self.account_type is AccountType.MARGIN

    def __repr__(self) -> str:
        balances = ", ".join(str(b.total) for b in self._balances.values())
        return f"{type(self).__name__}({self.id}, [{balances}])"


class CashAccount(Account):
    """A cash (spot) account."""

    account_type = AccountType.CASH


class MarginAccount(Account):
    """A margin account: leverage per instrument and the margin each instrument locks."""

    account_type = AccountType.MARGIN

    def __init__(self, event: AccountState, default_leverage: Decimal = Decimal(1)) -> None:
        if default_leverage <= 0:
            raise ValueError(f"default_leverage must be positive, got {default_leverage}")
        self.default_leverage: Decimal = Decimal(default_leverage)
        self._leverages: dict[InstrumentId, Decimal] = {}
        self._initial_margins: dict[InstrumentId, Money] = {}
        self._maintenance_margins: dict[InstrumentId, Money] = {}
        super().__init__(event)

    def set_leverage(self, instrument_id: InstrumentId, leverage: Decimal | int) -> None:
        """Set the leverage of an instrument (positive)."""
        leverage = Decimal(leverage)
        if leverage <= 0:
            raise ValueError(f"leverage for {instrument_id} must be positive, got {leverage}")
        self._leverages[instrument_id] = leverage

    def leverage(self, instrument_id: InstrumentId) -> Decimal:
        """The leverage of an instrument (the default when not set)."""
        return self._leverages.get(instrument_id, self.default_leverage)

    def calculate_initial_margin(
        self, instrument: Instrument, quantity: Quantity, price: Price
    ) -> Money:
        """Margin to open `quantity` at `price`: notional / leverage, quote currency."""
        notional = instrument.notional_value(quantity, price)
        num, den = self.leverage(instrument.id).as_integer_ratio()
        # notional / (num/den) = notional * den / num, rounded half to even.
        return Money(
            div_round_half_even(notional.raw * den, num), notional.precision, notional.currency
        )

    def update_margin(
        self, instrument_id: InstrumentId, initial: Money, maintenance: Money | None = None
    ) -> None:
        """Record the margin an instrument's orders and position lock."""
        self._initial_margins[instrument_id] = initial
        if maintenance is not None:
            self._maintenance_margins[instrument_id] = maintenance

    def clear_margin(self, instrument_id: InstrumentId) -> None:
        """Forget an instrument's margins (position closed, no orders)."""
        self._initial_margins.pop(instrument_id, None)
        self._maintenance_margins.pop(instrument_id, None)

    def initial_margin(self, instrument_id: InstrumentId) -> Money | None:
        """Initial margin recorded for an instrument."""
        return self._initial_margins.get(instrument_id)

    def maintenance_margin(self, instrument_id: InstrumentId) -> Money | None:
        """Maintenance margin recorded for an instrument."""
        return self._maintenance_margins.get(instrument_id)

    def margins(self) -> dict[InstrumentId, Money]:
        """Initial margin per instrument (a copy)."""
        return dict(self._initial_margins)


__all__ = ["Account", "AccountBalance", "CashAccount", "MarginAccount"]
