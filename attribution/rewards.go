package attribution

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// credits writes refer-a-friend's lines (§6.1): per referred friend, the base credit once its cash
// spend on qualifying categories reaches the threshold, and the bonus on what it spent above the
// threshold in its first days, the two together at most the cap (the bonus cut first).
//
// Decided here: spend is amount - voucher - refund (refunds known at as-of), on orders in the
// program's currency placed after the friend registered; a friend whose identity already paid
// before registering, or whose identity was referred before through another account, is
// not_new_user; a friend who has not reached the threshold yet has a rejected base line
// (below_minimum) that a later run moves forward.
func (e *engine) credits() []Line {
	c := e.p.Rules.Credit
	cur := e.p.Rules.Currency
	threshold, _ := ParseAmount(c.Threshold, cur)
	baseCredit, _ := ParseAmount(c.BaseCredit, cur)
	capAmount, _ := ParseAmount(c.Cap, cur)
	bonusRate := MustRate(c.BonusRate)

	accounts := make([]string, 0, len(e.regs))
	for acc := range e.regs {
		accounts = append(accounts, acc)
	}
	slices.SortFunc(accounts, func(a, b string) int {
		return cmp.Or(e.regs[a].TS.Compare(e.regs[b].TS), cmp.Compare(a, b))
	})
	byAccount := map[string][]*Order{}
	for _, o := range e.orders {
		byAccount[o.AccountID] = append(byAccount[o.AccountID], o)
	}
	referred := map[string]bool{} // identities already referred
	var lines []Line
	for _, acc := range accounts {
		reg := e.regs[acc]
		id := e.identity(acc)
		baseLine := Line{Program: e.p.Name, PartnerID: reg.PartnerID, Line: LineCredit, Ref: acc + "/base", AccountID: acc, Currency: cur, TS: reg.TS,
			ClickID: reg.ClickID, NetworkClickID: reg.NetworkClickID}
		var reason string
		switch {
		case !e.claimLive(&reg):
			reason = ReasonOutsideWindow
		case e.partnerIdentity(reg.PartnerID) != "" && e.partnerIdentity(reg.PartnerID) == id:
			reason = ReasonSamePerson
		case referred[id] || e.paidBefore(id, nil, reg.TS):
			reason = ReasonNotNewUser
		case e.excludedPartner(reg.PartnerID, reg.TS):
			reason = ReasonExcludedPartner
		}
		if reason == "" || reason == ReasonExcludedPartner {
			referred[id] = true
		}
		var spend, spendEarly int64
		var reachedAt time.Time
		bonusEnd := reg.TS.Add(time.Duration(c.BonusDays) * Day)
		for _, o := range byAccount[acc] {
			if o.TS.Before(reg.TS) || o.Currency != cur || !slices.Contains(c.QualifyingCategories, o.Category) {
				continue
			}
			refund := int64(0)
			if !o.RefundedAt.IsZero() && !o.RefundedAt.After(e.asOf) {
				refund = o.Refund
			}
			cash := max(o.Amount-o.Voucher-refund, 0)
			spend += cash
			if o.TS.Before(bonusEnd) {
				spendEarly += cash
			}
			if reachedAt.IsZero() && spend >= threshold {
				reachedAt = o.TS
			}
		}
		baseLine.Base = spend
		if reason == "" && reachedAt.IsZero() {
			reason = ReasonBelowMinimum
		}
		if reason != "" {
			baseLine.Status, baseLine.Reason = StatusRejected, reason
			lines = append(lines, baseLine)
			continue
		}
		baseLine.Commission, baseLine.TS = min(baseCredit, capAmount), reachedAt
		baseLine.PayableOn = dateOf(reachedAt).Add(time.Duration(c.BaseDelayDays) * Day)
		baseLine.Status = statusBy(e.asOf, baseLine.PayableOn)
		lines = append(lines, baseLine)
		if excess := spendEarly - threshold; excess > 0 {
			bonus := min(bonusRate.Apply(excess), max(capAmount-baseLine.Commission, 0))
			l := Line{Program: e.p.Name, PartnerID: reg.PartnerID, Line: LineCredit, Ref: acc + "/bonus", AccountID: acc,
				Base: excess, Rate: bonusRate.String(), Commission: bonus, Currency: cur, TS: reg.TS,
				ClickID: reg.ClickID, NetworkClickID: reg.NetworkClickID,
				PayableOn: dateOf(reg.TS.Add(time.Duration(c.BonusPayableDays) * Day))}
			l.Status = statusBy(e.asOf, l.PayableOn)
			lines = append(lines, l)
		}
	}
	return lines
}

// statusBy is pending until the payable date, approved from it.
func statusBy(asOf, payable time.Time) string {
	if asOf.Before(payable) {
		return StatusPending
	}
	return StatusApproved
}

// tiers writes a tier campaign's lines (§6, seed 004): per partner, the valid new users it brought
// (an identity's first paid order inside the campaign, at least the minimum base, in an eligible
// category, covered by the partner's binding) and the reward of the highest tier reached.
func (e *engine) tiers() []Line {
	c := e.p.Rules.Campaign
	cur := e.p.Rules.Currency
	minBase, _ := ParseAmount(c.MinBase, cur)
	payout, _ := time.Parse(time.DateOnly, c.Payout)
	counted := map[string]map[string]bool{} // partner -> identities
	for _, o := range e.orders {
		if o.TS.Before(c.Start) || !o.TS.Before(c.End) {
			continue
		}
		id := e.identity(o.AccountID)
		paidAmount := o.Amount - o.Voucher
		if paidAmount <= 0 || e.paidBefore(id, o, time.Time{}) {
			continue // not the identity's first paid order: not a new user
		}
		b, _, _ := e.cover(o.AccountID, o.TS)
		if b == nil || o.Currency != cur || paidAmount < minBase || !e.productEligible(o) ||
			(e.partnerIdentity(b.partner) != "" && e.partnerIdentity(b.partner) == id) ||
			e.excludedAccount(o.AccountID) || e.excludedPartner(b.partner, o.TS) ||
			(paidAmount > 0 && e.refundInReview(o) >= paidAmount) {
			continue
		}
		if counted[b.partner] == nil {
			counted[b.partner] = map[string]bool{}
		}
		counted[b.partner][id] = true
	}
	var lines []Line
	for _, p := range slices.Sorted(maps.Keys(counted)) {
		n := len(counted[p])
		var reward int64
		reached := false
		for _, t := range c.Tiers {
			if n >= t.Count {
				reward, _ = ParseAmount(t.Reward, cur)
				reached = true
			}
		}
		if !reached {
			continue
		}
		lines = append(lines, Line{Program: e.p.Name, PartnerID: p, Line: LineTier, Ref: p, Base: int64(n), BaseCount: true,
			Commission: reward, Currency: cur, PayableOn: payout, Status: statusBy(e.asOf, payout), TS: c.End.Add(-time.Second)})
	}
	return lines
}
