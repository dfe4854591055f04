package attribution

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Compute applies program p to in as known at asOf and returns its commission lines. It is pure:
// the same input and asOf give the same lines, in the same order. Orders, associations and refunds
// after asOf are not yet known and are left out (docs/rules.md §8).
func Compute(p *Program, in *Input, asOf time.Time) ([]Line, error) {
	e, err := newEngine(p, in, asOf)
	if err != nil {
		return nil, err
	}
	var lines []Line
	switch {
	case p.Rules.Credit != nil:
		lines = e.credits()
	case p.Rules.Campaign != nil:
		lines = e.tiers()
	default:
		lines = e.orderLines()
		if p.Rules.LeadAmount != "" {
			lines = append(lines, e.leads()...)
		}
	}
	return lines, nil
}

// binding is an account's claim at account level (docs/rules.md §2): it covers orders placed in
// [start, end). forever marks refer-a-friend's registered friends, who stay the referrer's.
type binding struct {
	partner string
	kind    string // of the association that made it
	clickID string
	netID   string // the network click id the claim carried
	assocTS time.Time
	start   time.Time
	end     time.Time
	forever bool
}

func (b *binding) covers(t time.Time) bool {
	return !t.Before(b.start) && (b.forever || t.Before(b.end))
}

// acct is an account with its identity key computed once.
type acct struct {
	*Account
	identity string
}

type engine struct {
	p      *Program
	asOf   time.Time
	window time.Duration
	review time.Duration

	accounts map[string]*acct
	partners map[string][]Partner
	orders   []*Order // known at asOf, by (ts, id); pointers into the input, which is never changed
	bindings map[string][]binding
	regs     map[string]Association // each account's first register association (live claim or not)

	// paid orders by identity, in (ts, id) order: the basis of "who is new" (§4).
	paid map[string][]*Order

	minBase, leadAmount, customerCap int64
}

func newEngine(p *Program, in *Input, asOf time.Time) (*engine, error) {
	e := &engine{
		p: p, asOf: asOf, window: p.Window(), review: time.Duration(p.Rules.ReviewDays) * Day,
		accounts: make(map[string]*acct, len(in.Accounts)), partners: map[string][]Partner{},
		bindings: map[string][]binding{}, regs: map[string]Association{}, paid: map[string][]*Order{},
	}
	var err error
	cur := p.Rules.Currency
	if e.minBase, err = amountOrZero(p.Rules.MinBase, cur); err != nil {
		return nil, fmt.Errorf("program %q: min_base: %w", p.Name, err)
	}
	if e.leadAmount, err = amountOrZero(p.Rules.LeadAmount, cur); err != nil {
		return nil, fmt.Errorf("program %q: lead_amount: %w", p.Name, err)
	}
	if e.customerCap, err = amountOrZero(p.Rules.CustomerCap, cur); err != nil {
		return nil, fmt.Errorf("program %q: customer_cap: %w", p.Name, err)
	}
	for i := range in.Accounts {
		a := &in.Accounts[i]
		id := "a:" + a.ID
		if a.IdentityID != "" {
			id = "i:" + a.IdentityID
		}
		e.accounts[a.ID] = &acct{Account: a, identity: id}
	}
	for _, pt := range in.Partners {
		e.partners[pt.ID] = append(e.partners[pt.ID], pt)
	}
	e.orders = make([]*Order, 0, len(in.Orders))
	for i := range in.Orders {
		if !in.Orders[i].TS.After(asOf) {
			e.orders = append(e.orders, &in.Orders[i])
		}
	}
	slices.SortFunc(e.orders, func(a, b *Order) int {
		return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.ID, b.ID))
	})
	for _, o := range e.orders {
		if _, ok := e.accounts[o.AccountID]; !ok {
			// An order of an account the accounts file does not list: its own identity.
			e.accounts[o.AccountID] = &acct{Account: &Account{ID: o.AccountID, Type: AccountPersonal}, identity: "a:" + o.AccountID}
		}
		if o.Amount-o.Voucher > 0 {
			id := e.identity(o.AccountID)
			e.paid[id] = append(e.paid[id], o)
		}
	}
	e.bind(in.Associations)
	return e, nil
}

func amountOrZero(s, currency string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return ParseAmount(s, currency)
}

// identity is the person behind an account: its identity id, or the account itself.
func (e *engine) identity(account string) string {
	if a := e.accounts[account]; a != nil {
		return a.identity
	}
	return "a:" + account
}

func (e *engine) partnerIdentity(partner string) string {
	for _, p := range e.partners[partner] {
		if p.IdentityID != "" {
			return "i:" + p.IdentityID
		}
	}
	return ""
}

// partnerFor returns the partner's row for month (YYYY-MM): the month's own row, else the row
// without a month.
func (e *engine) partnerFor(partner, month string) (Partner, bool) {
	var general *Partner
	rows := e.partners[partner]
	for i := range rows {
		switch rows[i].Month {
		case month:
			return rows[i], true
		case "":
			general = &rows[i]
		}
	}
	if general != nil {
		return *general, true
	}
	return Partner{}, false
}

// bind turns the program's associations into bindings, account by account, in time order:
// an association counts only while the cookie claim it carries is live (§2.3); the first one
// binds the account for the window; while it is bound, others (any partner's) change nothing;
// after it lapses, the next live association binds it afresh (§2.2).
func (e *engine) bind(all []Association) {
	var as []*Association
	for i := range all {
		if a := &all[i]; a.Program == e.p.Name && !a.TS.After(e.asOf) {
			as = append(as, a)
		}
	}
	slices.SortFunc(as, func(a, b *Association) int {
		return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.ClickID, b.ClickID), cmp.Compare(a.PartnerID, b.PartnerID),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.AccountID, b.AccountID))
	})
	forever := e.p.Rules.Credit != nil // refer-a-friend: a registered friend stays the referrer's
	for _, a := range as {
		if a.Kind == "register" {
			if _, ok := e.regs[a.AccountID]; !ok {
				e.regs[a.AccountID] = *a
			}
		}
		if !e.claimLive(a) {
			continue
		}
		bs := e.bindings[a.AccountID]
		if n := len(bs); n > 0 && (bs[n-1].forever || a.TS.Before(bs[n-1].end)) {
			continue // bound: first claim wins, and the same partner's expiry does not move
		}
		from := a.TS
		if e.p.WindowFrom == FromClick {
			from = a.ClaimedAt
		}
		b := binding{partner: a.PartnerID, kind: a.Kind, clickID: a.ClickID, netID: a.NetworkClickID, assocTS: a.TS, start: from, end: from.Add(e.window),
			forever: forever && a.Kind == "register"}
		if n := len(bs); n > 0 && b.start.Before(bs[n-1].end) {
			b.start = bs[n-1].end // bindings never overlap: the earlier claim keeps its time
		}
		e.bindings[a.AccountID] = append(bs, b)
	}
}

// claimLive reports whether the cookie claim an association carries was live when it was made.
func (e *engine) claimLive(a *Association) bool {
	if a.ClaimedAt.IsZero() || a.PartnerID == "" {
		return false
	}
	return !a.TS.Before(a.ClaimedAt) && a.TS.Before(a.ClaimedAt.Add(e.window))
}

// cover finds the binding that covers instant t for account: the binding, or a reason (no_claim,
// or outside_window with the lapsed binding's partner).
func (e *engine) cover(account string, t time.Time) (*binding, string, string) {
	bs := e.bindings[account]
	var lapsed *binding
	for i := range bs {
		if bs[i].covers(t) {
			return &bs[i], "", bs[i].partner
		}
		if !t.Before(bs[i].start) {
			lapsed = &bs[i]
		}
	}
	if lapsed != nil {
		return nil, ReasonOutsideWindow, lapsed.partner
	}
	return nil, ReasonNoClaim, ""
}

// paidBefore reports whether identity has a paid order before o (in (ts, id) order), or before
// instant t when o is nil.
func (e *engine) paidBefore(identity string, o *Order, t time.Time) bool {
	for _, q := range e.paid[identity] {
		if o != nil {
			if before(q, o) {
				return true
			}
			continue
		}
		if q.TS.Before(t) {
			return true
		}
	}
	return false
}

func before(a, b *Order) bool {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

// newAt reports whether identity counts as new at instant t: no paid order before it, or (with
// DormantDays) none in the DormantDays before it. The offline contract carries no product
// lifetimes, so "no active product" is read as "no paid order in that time" (decided here).
func (e *engine) newAt(identity string, t time.Time) bool {
	if !e.paidBefore(identity, nil, t) {
		return true
	}
	if d := e.p.Rules.DormantDays; d > 0 {
		since := t.Add(-time.Duration(d) * Day)
		for _, q := range e.paid[identity] {
			if !q.TS.Before(since) && q.TS.Before(t) {
				return false
			}
		}
		return true
	}
	return false
}

func (e *engine) payable(t time.Time) time.Time {
	if e.p.Rules.Payable == PayableMonthPlus2D10 {
		y, m, _ := t.UTC().Date()
		return time.Date(y, m+2, 10, 0, 0, 0, 0, time.UTC)
	}
	return dateOf(t.Add(e.review))
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (e *engine) status(t time.Time) string {
	if e.asOf.Before(t.Add(e.review)) {
		return StatusPending
	}
	return StatusApproved
}

func (e *engine) excludedAccount(account string) bool {
	a := e.accounts[account]
	if a == nil {
		return false
	}

	switch a.Type {
	case AccountEnterpriseSub, AccountReseller, AccountContract:
		return true
	}
	return a.SalesBound
}

func (e *engine) excludedPartner(partner string, t time.Time) bool {
	p, ok := e.partnerFor(partner, t.UTC().Format("2006-01"))
	return ok && p.Excluded
}

func (e *engine) productEligible(o *Order) bool {
	if len(e.p.Rules.Products) > 0 {
		return slices.Contains(e.p.Rules.Products, o.Product)
	}
	if len(e.p.Rules.ExcludedCategories) > 0 {
		return !slices.Contains(e.p.Rules.ExcludedCategories, o.Category)
	}
	return o.Category != "domains" && o.Category != "marketplace"
}

// refundInReview is the refund known at asOf and made inside the order's review period (§3).
func (e *engine) refundInReview(o *Order) int64 {
	if o.Refund <= 0 || o.RefundedAt.IsZero() || o.RefundedAt.After(e.asOf) {
		return 0
	}
	if o.RefundedAt.Before(o.TS.Add(e.review)) {
		return o.Refund
	}
	return 0
}

// refundAfterReview is the refund known at asOf and made after the review period: a clawback.
func (e *engine) refundAfterReview(o *Order) int64 {
	if o.Refund <= 0 || o.RefundedAt.IsZero() || o.RefundedAt.After(e.asOf) {
		return 0
	}
	if !o.RefundedAt.Before(o.TS.Add(e.review)) {
		return o.Refund
	}
	return 0
}

// orderLines writes one order line per order (and a clawback line per refund after the review period)
// for the programs that pay on orders.
func (e *engine) orderLines() []Line {
	// ambassador-2025: per binding, whether its customer was new at the claim's start (§4), and the
	// products whose first order fell inside it.
	type claimState struct {
		isNew      bool
		decided    bool
		newProduct map[string]bool
	}
	states := map[*binding]*claimState{}
	paidTotal := map[string]int64{} // commission per account, for customer_cap
	lines := make([]Line, 0, len(e.orders))
	for _, o := range e.orders {
		l := Line{Program: e.p.Name, Line: LineOrder, Ref: o.ID, AccountID: o.AccountID, Currency: o.Currency, TS: o.TS}
		paidAmount := max(o.Amount-o.Voucher, 0)
		l.Base = max(paidAmount-e.refundInReview(o), 0)
		reject := func(reason string) {
			l.Status, l.Reason, l.Rate, l.Commission, l.PayableOn = StatusRejected, reason, "", 0, time.Time{}
		}
		b, reason, partner := e.cover(o.AccountID, o.TS)
		l.PartnerID = partner
		if b != nil {
			l.ClickID, l.NetworkClickID = b.clickID, b.netID
		}
		id := e.identity(o.AccountID)
		var rate Rate
		rateSet := false
		switch {
		case b == nil:
			reject(reason)
		case e.partnerIdentity(b.partner) != "" && e.partnerIdentity(b.partner) == id:
			reject(ReasonSamePerson)
		default:
			// Who is new (§4), and the rate that follows from it.
			switch e.p.Rules.NewUsers {
			case NewUsersFirstPurchase:
				if paidAmount <= 0 || e.paidBefore(id, o, time.Time{}) {
					reject(ReasonNotNewUser)
				}
			case NewUsersStatus:
				st := states[b]
				if st == nil {
					st = &claimState{isNew: e.newAt(id, b.start), newProduct: map[string]bool{}}
					states[b] = st
				}
				if st.isNew && !st.decided && paidAmount > 0 {
					// The first paid order inside the claim decides: pay-as-you-go loses the
					// first-purchase benefits (seed 001); the customer then counts as existing.
					st.decided = true
					if o.Billing == "payg" {
						st.isNew = false
					}
				}
				switch {
				case st.isNew && (o.Kind == "new" || o.Kind == "upgrade" || o.Kind == "renewal" || o.Kind == "auto_renewal"):
					rate, rateSet = MustRate(e.p.Rules.NewUserRate), true
				case !st.isNew && !e.boughtBefore(id, o) && paidAmount > 0:
					st.newProduct[o.Product] = true
					rate, rateSet = MustRate(e.p.Rules.NewProductRate), true
				case !st.isNew && st.newProduct[o.Product] && (o.Kind == "upgrade" || o.Kind == "renewal" || o.Kind == "auto_renewal"):
					rate, rateSet = MustRate(e.p.Rules.NewProductRate), true
				default:
					reject(ReasonNotNewUser)
				}
			}
		}
		if l.Status == "" {
			switch {
			case !e.productEligible(o):
				reject(ReasonProductNotEligible)
			case e.p.Rules.PrepaidOnly && o.Billing == "payg":
				reject(ReasonPayAsYouGo)
			case slices.Contains(e.p.Rules.ExcludedKinds, o.Kind):
				reject(ReasonRenewal)
			case e.excludedAccount(o.AccountID):
				reject(ReasonExcludedAccount)
			case e.excludedPartner(b.partner, o.TS):
				reject(ReasonExcludedPartner)
			case e.minBase > 0 && o.Currency == e.p.Rules.Currency && paidAmount < e.minBase:
				reject(ReasonBelowMinimum)
			case paidAmount > 0 && e.refundInReview(o) >= paidAmount:
				reject(ReasonRefunded)
			}
		}
		if l.Status == "" {
			if !rateSet {
				rate = e.orderRate(b, o)
			}
			l.Rate = rate.String()
			l.Commission = rate.Apply(l.Base)
			if e.customerCap > 0 {
				l.Commission = min(l.Commission, max(e.customerCap-paidTotal[o.AccountID], 0))
				paidTotal[o.AccountID] += l.Commission
			}
			l.Status, l.PayableOn = e.status(o.TS), e.payable(o.TS)
		}
		lines = append(lines, l)
		if l.Status != StatusRejected {
			if r := min(e.refundAfterReview(o), l.Base); r > 0 {
				lines = append(lines, Line{
					Program: e.p.Name, PartnerID: l.PartnerID, Line: LineClawback, Ref: o.ID, AccountID: o.AccountID,
					Status: StatusApproved, Base: -r, Rate: l.Rate, Commission: -(l.Commission - rate.Apply(l.Base-r)),
					Currency: o.Currency, PayableOn: dateOf(o.RefundedAt), TS: o.RefundedAt,
					ClickID: l.ClickID, NetworkClickID: l.NetworkClickID,
				})
			}
		}
	}
	return lines
}

// boughtBefore reports whether identity paid for o's product before o.
func (e *engine) boughtBefore(identity string, o *Order) bool {
	for _, q := range e.paid[identity] {
		if !before(q, o) {
			return false
		}
		if q.Product == o.Product {
			return true
		}
	}
	return false
}

// orderRate is the rate for an eligible order: by partner level and association kind where the
// program prices them apart (ambassador-2021), else the program's order rate.
func (e *engine) orderRate(b *binding, o *Order) Rate {
	if rates, ok := e.p.Rules.LevelRates[b.kind]; ok {
		level := 1 // a partner without a level is at the first (decided here)
		if p, ok := e.partnerFor(b.partner, o.TS.UTC().Format("2006-01")); ok && p.Level >= 1 && p.Level <= len(rates) {
			level = p.Level
		}
		return MustRate(rates[level-1])
	}
	if e.p.Rules.OrderRate != "" {
		return MustRate(e.p.Rules.OrderRate)
	}
	return Rate{}
}

// leads writes the affiliate program's lead lines: one per account registered through a claim
// (§6.1), for the partner whose claim it carried.
func (e *engine) leads() []Line {
	accounts := make([]string, 0, len(e.regs))
	for acc := range e.regs {
		accounts = append(accounts, acc)
	}
	slices.SortFunc(accounts, func(a, b string) int {
		return cmp.Or(e.regs[a].TS.Compare(e.regs[b].TS), cmp.Compare(a, b))
	})
	var lines []Line
	for _, acc := range accounts {
		a := e.regs[acc]
		l := Line{Program: e.p.Name, PartnerID: a.PartnerID, Line: LineLead, Ref: acc, AccountID: acc,
			Base: 1, BaseCount: true, Currency: e.p.Rules.Currency, TS: a.TS, ClickID: a.ClickID, NetworkClickID: a.NetworkClickID}
		id := e.identity(acc)
		switch {
		case !e.claimLive(&a):
			l.Reason = ReasonOutsideWindow
		case e.partnerIdentity(a.PartnerID) != "" && e.partnerIdentity(a.PartnerID) == id:
			l.Reason = ReasonSamePerson
		case e.paidBefore(id, nil, a.TS):
			l.Reason = ReasonNotNewUser
		case e.excludedAccount(acc):
			l.Reason = ReasonExcludedAccount
		case e.excludedPartner(a.PartnerID, a.TS):
			l.Reason = ReasonExcludedPartner
		}
		if l.Reason != "" {
			l.Status = StatusRejected
		} else {
			l.Commission, l.Status, l.PayableOn = e.leadAmount, e.status(a.TS), e.payable(a.TS)
		}
		lines = append(lines, l)
	}
	return lines
}
