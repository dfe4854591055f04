package attribution

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Account types (docs/rules.md §9).
const (
	AccountPersonal      = "personal"
	AccountEnterprise    = "enterprise"
	AccountEnterpriseSub = "enterprise_sub"
	AccountReseller      = "reseller"
	AccountContract      = "contract"
)

// Account is a customer account at the merchant.
type Account struct {
	ID           string
	IdentityID   string // the person behind it; empty: the account is its own identity
	RegisteredAt time.Time
	Type         string
	SalesBound   bool // already bound to a sales partner
}

// Partner is whoever promotes links. A row with an empty Month holds for every month; a row with
// a month (YYYY-MM) overrides it for that month.
type Partner struct {
	ID         string
	IdentityID string
	Level      int // 1-4 (ambassador levels); 0 when not given
	Excluded   bool
	Month      string
}

// Association binds an account to the partner whose claim the visitor carried (docs/rules.md §2).
type Association struct {
	TS        time.Time
	Program   string
	AccountID string
	PartnerID string
	ClickID   string
	Kind      string    // register or login
	ClaimedAt time.Time // when the cookie claim began

	// NetworkClickID is an affiliate network's click id the claim carried (irclickid, admitad_uid):
	// what the network's postbacks name. Optional in files (network_click_id).
	NetworkClickID string
}

// Order is an order from the merchant's billing.
type Order struct {
	ID         string
	AccountID  string
	TS         time.Time
	Product    string
	Category   string
	Billing    string // prepaid or payg
	Kind       string // new, upgrade, renewal, auto_renewal
	Currency   string
	Amount     int64 // minor units
	Voucher    int64
	Refund     int64
	RefundedAt time.Time // zero when none
}

// Input is everything a program's rules read.
type Input struct {
	Accounts     []Account
	Partners     []Partner
	Associations []Association
	Orders       []Order
}

// AssociationID names an imported association by its fields, so that the same row imported twice
// is one association.
func AssociationID(a *Association) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d", a.Program, a.AccountID, a.PartnerID, a.ClickID, a.Kind,
		a.TS.UnixNano(), a.ClaimedAt.Unix())
	return "imp-" + hex.EncodeToString(h.Sum(nil)[:16])
}
