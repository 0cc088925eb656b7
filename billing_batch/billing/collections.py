"""Who gets which collection letter (SPEC §4.4): pure, decided from stored state, never exact dates.

A client's level follows its oldest overdue item. Each run sends at most the next level's letter,
when the client qualifies for a higher level than its last letter and at least
`min_days_between_letters` have passed, unless a suppression rule applies. A missed night is thus
caught up by one level on the next run; a client with nothing overdue starts again from the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Level:
    number: int  # 1 = first letter
    name: str
    days: int
    template: str


@dataclass(frozen=True)
class OverdueItem:
    invoice_number: str
    invoice_date: date
    due_date: date
    days_past_due: int
    balance_cents: int
    eligible_cents: int  # from non-discretionary services: may go on a plan
    discretionary: tuple[str, ...] = ()  # what its discretionary lines are for (never on a plan)


@dataclass(frozen=True)
class Situation:
    client_id: str
    items: tuple[OverdueItem, ...]  # overdue items that count (not on a plan, not at the insurer)
    level: int  # last letter's level in the current series, 0 = none
    last_letter: date | None
    hold: bool = False
    open_dispute: bool = False
    promise_until: date | None = None  # promise date + grace
    referral_from: date | None = None  # the day the final notice named: no referral before it

    @property
    def overdue_cents(self) -> int:
        return sum(i.balance_cents for i in self.items)

    @property
    def oldest_days(self) -> int:
        return max((i.days_past_due for i in self.items), default=0)


@dataclass(frozen=True)
class Decision:
    client_id: str
    qualifies: int  # the level the oldest item reaches
    send: Level | None = None
    reset: bool = False  # paid up: the next overdue balance starts from the first level
    held_back: str | None = None  # why no letter although one is due


def qualifying_level(days_past_due: int, levels: list[Level]) -> int:
    return max((l.number for l in levels if days_past_due >= l.days), default=0)


def referral_date(s: Situation, levels: list[Level], as_of: date, min_days_between: int) -> date:
    """The first day the last level (the referral) can be reached after a letter sent on `as_of`: the
    oldest item must be that many days past due, and the next step waits `min_days_between` days."""
    oldest_due = min(i.due_date for i in s.items)
    return max(oldest_due + timedelta(days=levels[-1].days), as_of + timedelta(days=min_days_between))


def suppression(s: Situation, as_of: date, min_balance_cents: int) -> str | None:
    if s.hold:
        return "Collections Hold"
    if s.open_dispute:
        return "Open dispute"
    if s.promise_until is not None and as_of <= s.promise_until:
        return f"Promise to pay (until {s.promise_until:%Y-%m-%d})"
    if s.overdue_cents < min_balance_cents:
        return "Below the minimum balance"
    return None


def decide(s: Situation, levels: list[Level], as_of: date, min_days_between: int, min_balance_cents: int) -> Decision:
    if s.overdue_cents <= 0:
        return Decision(s.client_id, 0, reset=s.level > 0)
    qualifies = qualifying_level(s.oldest_days, levels)
    if qualifies <= s.level:
        return Decision(s.client_id, qualifies)
    why = suppression(s, as_of, min_balance_cents)
    if why is None and s.last_letter is not None and (as_of - s.last_letter).days < min_days_between:
        why = f"Last letter on {s.last_letter:%Y-%m-%d}, less than {min_days_between} days ago"
    if why is None and s.level + 1 == len(levels) and s.referral_from is not None and as_of < s.referral_from:
        # An older item back in dunning (a plan ended, say) must not bring forward the day the letter named.
        why = f"The final notice named {s.referral_from:%Y-%m-%d} as the first day of a referral"
    if why:
        return Decision(s.client_id, qualifies, held_back=why)
    return Decision(s.client_id, qualifies, send=levels[s.level])  # one level up, never a jump


@dataclass(frozen=True)
class CallEntry:
    client_id: str
    phone: str
    balance_cents: int
    days_past_due: int
    level_name: str
    last_letter: date | None
    last_contact: tuple[date, str] | None
    promise_date: date | None
    action: str


def suggested_action(level: int, top: int, contact: dict, promise: date | None, as_of: date) -> str:
    if contact.get("plan_requested"):
        return "Set up the payment plan the client asked for"
    if promise and promise < as_of:
        return f"Promise of {promise:%Y-%m-%d} not kept: call about it"
    if level == top:
        # Not "on the referral list": a hardship case or a client whose insurer owes is on Needs Review.
        return ("On the referral export (its Referrals or Needs Review sheet): approve or review the referral, "
                "or agree payment before it is sent")
    return "Call about the overdue balance"
