package attribution

import (
	"fmt"
	"slices"
	"time"
)

// Preset names (docs/rules.md §6).
const (
	PresetAffiliate      = "affiliate"
	PresetAmbassador2021 = "ambassador-2021"
	PresetAmbassador2025 = "ambassador-2025"
	PresetReferAFriend   = "refer-a-friend"
	PresetCampaign       = "campaign-2022-06"
)

// How a program decides who is new (docs/rules.md §4).
const (
	NewUsersAny           = ""               // every customer counts
	NewUsersFirstPurchase = "first_purchase" // only a new user's orders (ambassador-2021)
	NewUsersStatus        = "status"         // status at the claim's start: new/dormant or new product (ambassador-2025)
)

// When a line is payable.
const (
	PayableReview        = "review"         // the order's time + the review period
	PayableMonthPlus2D10 = "month+2 day 10" // day 10 of the second month after the event (affiliate networks)
)

// Rules are a program's parameters. Amounts are decimal strings in major units of Currency;
// rates are decimal fractions. The preset decides which lines the program writes (docs/rules.md §6.1).
type Rules struct {
	Currency   string `json:"currency"`
	ReviewDays int    `json:"review_days"` // pending for this long after the order (§5), refunds inside it reduce the base (§3)
	Payable    string `json:"payable"`

	// Eligibility (§5).
	Products           []string `json:"products"`            // eligible products; empty: every product outside ExcludedCategories
	ExcludedCategories []string `json:"excluded_categories"` // never eligible
	PrepaidOnly        bool     `json:"prepaid_only"`        // pay_as_you_go otherwise
	ExcludedKinds      []string `json:"excluded_kinds"`      // order kinds rejected as renewal
	NewUsers           string   `json:"new_users"`
	DormantDays        int      `json:"dormant_days"` // an existing user without a paid order for this long counts as new (0: never)
	MinBase            string   `json:"min_base"`     // below_minimum under it ("" or "0": none)

	// Order commission.
	OrderRate      string              `json:"order_rate"`       // one rate for every eligible order
	LevelRates     map[string][]string `json:"level_rates"`      // association kind -> rate by partner level 1, 2, 3, 4
	NewUserRate    string              `json:"new_user_rate"`    // ambassador-2025: customers new or dormant at the claim's start
	NewProductRate string              `json:"new_product_rate"` // ambassador-2025: an existing customer's first order of a product
	CustomerCap    string              `json:"customer_cap"`     // most commission one account earns in a program ("": no cap)

	// Leads (affiliate).
	LeadAmount string `json:"lead_amount"`

	Credit   *CreditRules   `json:"credit,omitempty"`
	Campaign *CampaignRules `json:"campaign,omitempty"`
}

// CreditRules are refer-a-friend's parameters (seed 002).
type CreditRules struct {
	QualifyingCategories []string `json:"qualifying_categories"`
	Threshold            string   `json:"threshold"`       // cumulative cash spend that earns the base credit
	BaseCredit           string   `json:"base_credit"`     // the credit earned at the threshold
	BaseDelayDays        int      `json:"base_delay_days"` // base credit payable this long after the threshold is reached
	BonusRate            string   `json:"bonus_rate"`      // of the spend above the threshold ...
	BonusDays            int      `json:"bonus_days"`      // ... in this many days after registration
	BonusPayableDays     int      `json:"bonus_payable_days"`
	Cap                  string   `json:"cap"` // most credit per friend, bonus cut first
}

// CampaignRules are a tier campaign's parameters (seed 004).
type CampaignRules struct {
	Start   time.Time `json:"start"`  // orders from Start (inclusive) ...
	End     time.Time `json:"end"`    // ... to End (exclusive)
	Payout  string    `json:"payout"` // YYYY-MM-DD
	MinBase string    `json:"min_base"`
	Tiers   []Tier    `json:"tiers"`
}

// Tier pays Reward once a partner has brought Count valid new users.
type Tier struct {
	Count  int    `json:"count"`
	Reward string `json:"reward"`
}

// The products of seed 000 rule 1 (docs/rules.md §6.2).
var affiliateProducts = []string{
	"ecs", "rds", "redis", "analyticdb-pg", "mongodb", "dts", "drds", "anti-ddos-basic", "anti-ddos-pro",
	"waf", "server-guard", "ssl-certificates", "oss", "tablestore", "cdn", "nas",
}

var presets = []Program{
	{
		Name: PresetAffiliate, Preset: PresetAffiliate, WindowDays: 15, WindowFrom: FromClick, ClickParam: "click_id",
		Rules: Rules{
			Currency: "USD", ReviewDays: 30, Payable: PayableMonthPlus2D10,
			Products:      affiliateProducts,
			ExcludedKinds: []string{"auto_renewal"},
			OrderRate:     "0",
			LeadAmount:    "7.00",
		},
	},
	{
		Name: PresetAmbassador2021, Preset: PresetAmbassador2021, WindowDays: 30, WindowFrom: FromAssociation, ClickParam: "click_id",
		Rules: Rules{
			Currency: "CNY", ReviewDays: 30, Payable: PayableReview,
			ExcludedCategories: []string{"domains", "marketplace"},
			PrepaidOnly:        true,
			ExcludedKinds:      []string{"renewal", "auto_renewal"},
			NewUsers:           NewUsersFirstPurchase,
			LevelRates: map[string][]string{
				"register": {"0.26", "0.28", "0.31", "0.34"},
				"login":    {"0.21", "0.23", "0.26", "0.29"},
			},
		},
	},
	{
		Name: PresetAmbassador2025, Preset: PresetAmbassador2025, WindowDays: 30, WindowFrom: FromAssociation, ClickParam: "click_id",
		Rules: Rules{
			Currency: "CNY", ReviewDays: 30, Payable: PayableReview,
			ExcludedCategories: []string{"domains", "marketplace"},
			ExcludedKinds:      []string{"auto_renewal"},
			NewUsers:           NewUsersStatus,
			DormantDays:        365,
			NewUserRate:        "0.45",
			NewProductRate:     "0.15",
		},
	},
	{
		Name: PresetReferAFriend, Preset: PresetReferAFriend, WindowDays: 30, WindowFrom: FromClick, ClickParam: "click_id",
		Rules: Rules{
			Currency: "USD", ReviewDays: 30, Payable: PayableReview,
			Credit: &CreditRules{
				QualifyingCategories: []string{"compute", "storage", "networking", "database", "security", "analytics"},
				Threshold:            "20.00", BaseCredit: "20.00", BaseDelayDays: 30,
				BonusRate: "0.10", BonusDays: 90, BonusPayableDays: 120,
				Cap: "300.00",
			},
		},
	},
	{
		Name: PresetCampaign, Preset: PresetCampaign, WindowDays: 30, WindowFrom: FromAssociation, ClickParam: "click_id",
		Rules: Rules{
			Currency: "CNY", ReviewDays: 30, Payable: PayableReview,
			ExcludedCategories: []string{"domains", "marketplace"},
			Campaign: &CampaignRules{
				// 2022-06-07 to 2022-06-30 China time (UTC+8), decided in docs/rules.md §6.
				Start:   time.Date(2022, 6, 6, 16, 0, 0, 0, time.UTC),
				End:     time.Date(2022, 6, 30, 16, 0, 0, 0, time.UTC),
				Payout:  "2022-08-08",
				MinBase: "30.00",
				Tiers: []Tier{
					{3, "60"}, {5, "100"}, {10, "200"}, {20, "500"}, {80, "2000"},
					{100, "2600"}, {200, "5200"}, {500, "15000"}, {1000, "30000"},
				},
			},
		},
	},
}

func (r Rules) clone() Rules {
	r.Products = slices.Clone(r.Products)
	r.ExcludedCategories = slices.Clone(r.ExcludedCategories)
	r.ExcludedKinds = slices.Clone(r.ExcludedKinds)
	if r.LevelRates != nil {
		m := make(map[string][]string, len(r.LevelRates))
		for k, v := range r.LevelRates {
			m[k] = slices.Clone(v)
		}
		r.LevelRates = m
	}
	if r.Credit != nil {
		c := *r.Credit
		c.QualifyingCategories = slices.Clone(c.QualifyingCategories)
		r.Credit = &c
	}
	if r.Campaign != nil {
		c := *r.Campaign
		c.Tiers = slices.Clone(c.Tiers)
		r.Campaign = &c
	}
	return r
}

// validate checks that every amount and rate parses, so that a bad programs file is refused at
// load rather than in the middle of a job.
func (r *Rules) validate(program string) error {
	bad := func(field string, err error) error {
		return fmt.Errorf("program %q: rules.%s: %w", program, field, err)
	}
	if !ValidCurrency(r.Currency) {
		return bad("currency", fmt.Errorf("%q is not an ISO 4217 code", r.Currency))
	}
	if r.ReviewDays < 0 {
		return bad("review_days", fmt.Errorf("%d is negative", r.ReviewDays))
	}
	if r.Payable != PayableReview && r.Payable != PayableMonthPlus2D10 {
		return bad("payable", fmt.Errorf("%q: want %q or %q", r.Payable, PayableReview, PayableMonthPlus2D10))
	}
	switch r.NewUsers {
	case NewUsersAny, NewUsersFirstPurchase, NewUsersStatus:
	default:
		return bad("new_users", fmt.Errorf("%q: want \"\", %q or %q", r.NewUsers, NewUsersFirstPurchase, NewUsersStatus))
	}
	for _, k := range r.ExcludedKinds {
		if !slices.Contains(orderKinds, k) {
			return bad("excluded_kinds", fmt.Errorf("%q is not an order kind", k))
		}
	}
	for _, c := range append(slices.Clone(r.ExcludedCategories), r.creditCategories()...) {
		if !slices.Contains(Categories(), c) {
			return bad("categories", fmt.Errorf("%q is not a category (%v)", c, Categories()))
		}
	}
	for field, v := range map[string]string{"min_base": r.MinBase, "lead_amount": r.LeadAmount, "customer_cap": r.CustomerCap} {
		if v != "" {
			if _, err := ParseAmount(v, r.Currency); err != nil {
				return bad(field, err)
			}
		}
	}
	for field, v := range map[string]string{"order_rate": r.OrderRate, "new_user_rate": r.NewUserRate, "new_product_rate": r.NewProductRate} {
		if v != "" {
			if _, err := ParseRate(v); err != nil {
				return bad(field, err)
			}
		}
	}
	for kind, rates := range r.LevelRates {
		if kind != "register" && kind != "login" {
			return bad("level_rates", fmt.Errorf("kind %q: want register or login", kind))
		}
		if len(rates) != 4 {
			return bad("level_rates", fmt.Errorf("%s has %d rates, want one per level 1 to 4", kind, len(rates)))
		}
		for _, v := range rates {
			if _, err := ParseRate(v); err != nil {
				return bad("level_rates", err)
			}
		}
	}
	if c := r.Credit; c != nil {
		for field, v := range map[string]string{"threshold": c.Threshold, "base_credit": c.BaseCredit, "cap": c.Cap} {
			if _, err := ParseAmount(v, r.Currency); err != nil {
				return bad("credit."+field, err)
			}
		}
		if _, err := ParseRate(c.BonusRate); err != nil {
			return bad("credit.bonus_rate", err)
		}
	}
	if c := r.Campaign; c != nil {
		if !c.End.After(c.Start) {
			return bad("campaign", fmt.Errorf("end %v is not after start %v", c.End, c.Start))
		}
		if _, err := time.Parse(time.DateOnly, c.Payout); err != nil {
			return bad("campaign.payout", err)
		}
		if _, err := ParseAmount(c.MinBase, r.Currency); err != nil {
			return bad("campaign.min_base", err)
		}
		last := 0
		for _, t := range c.Tiers {
			if t.Count <= last {
				return bad("campaign.tiers", fmt.Errorf("counts must rise: %d after %d", t.Count, last))
			}
			last = t.Count
			if _, err := ParseAmount(t.Reward, r.Currency); err != nil {
				return bad("campaign.tiers", err)
			}
		}
	}
	return nil
}

func (r *Rules) creditCategories() []string {
	if r.Credit == nil {
		return nil
	}
	return r.Credit.QualifyingCategories
}

// Categories returns the product categories (docs/rules.md, "Products and categories").
func Categories() []string {
	return []string{"compute", "storage", "cdn", "networking", "database", "security", "analytics", "domains", "marketplace", "other"}
}

var orderKinds = []string{"new", "upgrade", "renewal", "auto_renewal"}
