package clickhouse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/sink"
)

// generate writes a random but plausible data set in the offline contract's files: accounts that
// share identities, partners some of whom are customers too, overlapping claims by several
// partners (live and lapsed), orders of every kind with vouchers and refunds inside and after the
// review period.
func generate(t *testing.T, dir string, seed uint64, accounts int) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	base := time.Date(2022, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(maxDays int) time.Time { return base.Add(time.Duration(r.IntN(maxDays*86400)) * time.Second) }
	var acc, par, asc, ord strings.Builder
	acc.WriteString("account_id,identity_id,registered_at,type,sales_bound\n")
	par.WriteString("partner_id,identity_id,level,excluded,month\n")
	asc.WriteString("ts,program,account_id,partner_id,click_id,kind,claimed_at\n")
	ord.WriteString("order_id,account_id,ts,product,category,billing,kind,currency,amount,voucher,refund,refunded_at\n")
	types := []string{"personal", "personal", "personal", "enterprise", "enterprise_sub", "reseller", "contract"}
	for p := 0; p < 25; p++ {
		id := fmt.Sprintf("pid%d", p)
		if p%6 == 0 {
			id = fmt.Sprintf("person%d", r.IntN(accounts*3/4)) // a partner who is also a customer
		}
		fmt.Fprintf(&par, "p%d,%s,%d,%t,\n", p, id, 1+r.IntN(4), p%11 == 0)
		if p%5 == 0 {
			fmt.Fprintf(&par, "p%d,%s,%d,%t,2022-06\n", p, id, 1+r.IntN(4), p%3 == 0)
		}
	}
	programs := attribution.PresetNames()
	products := []struct{ product, category string }{
		{"ecs", "compute"}, {"rds", "database"}, {"oss", "storage"}, {"cdn", "cdn"}, {"waf", "security"},
		{"vpc", "networking"}, {"maxcompute", "analytics"}, {"example.com", "domains"}, {"app", "marketplace"}, {"sms", "other"},
	}
	kinds := []string{"new", "new", "upgrade", "renewal", "auto_renewal"}
	orderN := 0
	for a := 0; a < accounts; a++ {
		fmt.Fprintf(&acc, "a%d,person%d,%s,%s,%t\n", a, r.IntN(accounts*3/4), at(30).Format(time.RFC3339), types[r.IntN(len(types))], r.IntN(20) == 0)
		for n := r.IntN(4); n > 0; n-- {
			ts := at(120)
			claimed := ts.Add(-time.Duration(r.IntN(40*86400)) * time.Second)
			kind := "login"
			if r.IntN(2) == 0 {
				kind = "register"
			}
			fmt.Fprintf(&asc, "%s,%s,a%d,p%d,c%d-%d,%s,%s\n", ts.Format(time.RFC3339), programs[r.IntN(len(programs))], a, r.IntN(25), a, n,
				kind, claimed.Format(time.RFC3339))
		}
		for n := r.IntN(5); n > 0; n-- {
			orderN++
			ts := at(150)
			pr := products[r.IntN(len(products))]
			billing := "prepaid"
			if r.IntN(3) == 0 {
				billing = "payg"
			}
			cur := "CNY"
			if r.IntN(4) == 0 {
				cur = "USD"
			}
			amount := int64(r.IntN(200000))
			voucher := int64(0)
			if r.IntN(4) == 0 {
				voucher = int64(r.IntN(int(amount) + 1))
			}
			refund, refundedAt := int64(0), ""
			if paid := amount - voucher; paid > 0 && r.IntN(5) == 0 {
				refund = paid
				if r.IntN(2) == 0 {
					refund = int64(r.IntN(int(paid))) + 1
				}
				refundedAt = ts.Add(time.Duration(r.IntN(60*86400)) * time.Second).Format(time.RFC3339)
			}
			fmt.Fprintf(&ord, "o%d,a%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", orderN, a, ts.Format(time.RFC3339), pr.product, pr.category,
				billing, kinds[r.IntN(len(kinds))], cur, attribution.FormatAmount(amount, cur), attribution.FormatAmount(voucher, cur),
				attribution.FormatAmount(refund, cur), refundedAt)
		}
	}
	// Planted beside the random volume, so that every rule has cases: partners who refer
	// themselves, and a partner whose referrals reach the campaign's first tier.
	for k := 0; k < 5; k++ {
		fmt.Fprintf(&par, "self%d,selfperson%d,2,false,\n", k, k)
		fmt.Fprintf(&acc, "own%d,selfperson%d,2022-05-01T00:00:00Z,personal,false\n", k, k)
		for _, prog := range programs {
			fmt.Fprintf(&asc, "2022-06-10T00:00:00Z,%s,own%d,self%d,cs%d,register,2022-06-10T00:00:00Z\n", prog, k, k, k)
		}
		orderN++
		fmt.Fprintf(&ord, "o%d,own%d,2022-06-11T00:00:00Z,ecs,compute,prepaid,new,CNY,100.00,0,0,\n", orderN, k)
	}
	for k := 0; k < 4; k++ {
		fmt.Fprintf(&acc, "camp%d,campperson%d,2022-06-08T00:00:00Z,personal,false\n", k, k)
		fmt.Fprintf(&asc, "2022-06-08T00:00:00Z,campaign-2022-06,camp%d,p1,cc%d,register,2022-06-08T00:00:00Z\n", k, k)
		orderN++
		fmt.Fprintf(&ord, "o%d,camp%d,2022-06-09T00:00:00Z,ecs,compute,prepaid,new,CNY,88.00,0,0,\n", orderN, k)
	}
	for name, b := range map[string]*strings.Builder{"accounts.csv": &acc, "partners.csv": &par, "associations.csv": &asc, "orders.csv": &ord} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func ndjson(lines []attribution.Line) string {
	var b bytes.Buffer
	for _, l := range lines {
		j, _ := json.Marshal(l)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// The ClickHouse path and the --input path give the same lines, for every preset, on generated
// data; importing the files twice changes nothing.
func TestClickHouseAndFilesAgree(t *testing.T) {
	_, db := chtest.Database(t)
	dir := t.TempDir()
	generate(t, dir, 42, 3000)
	ctx := context.Background()
	now := time.Now()
	in, err := attribution.ReadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the second import must not double anything
		for _, table := range attribution.Tables() {
			if _, err := db.Import(ctx, importFile(t, dir, table), now.Add(time.Duration(round)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	progs := attribution.Presets()
	total := map[string]int{}
	for _, asOf := range []time.Time{time.Date(2022, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)} {
		for _, name := range attribution.PresetNames() {
			p := progs[name]
			want, err := attribution.Compute(&p, in, asOf)
			if err != nil {
				t.Fatal(err)
			}
			fromCH, err := db.LoadInput(ctx, &p, asOf, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := attribution.Compute(&p, fromCH, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := ndjson(got), ndjson(want); g != w {
				t.Fatalf("%s as of %s: ClickHouse gives %d lines, files %d; first difference:\n%s", name, asOf.Format(time.DateOnly),
					len(got), len(want), firstDiff(g, w))
			}
			for _, l := range want {
				total[l.Line+" "+l.Status+" "+l.Reason]++
			}
		}
	}
	// The data set must exercise the rules, not just agree on nothing.
	for _, must := range []string{"order approved ", "order pending ", "order rejected no_claim", "order rejected outside_window",
		"order rejected same_person", "order rejected not_new_user", "order rejected product_not_eligible", "order rejected pay_as_you_go",
		"order rejected renewal", "order rejected excluded_account", "order rejected refunded", "clawback approved ",
		"lead approved ", "lead rejected outside_window", "credit approved ", "tier approved "} {
		if total[must] == 0 {
			t.Errorf("the generated data never produced %q; counts: %v", must, total)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "clickhouse: " + al[i] + "\nfiles:      " + bl[i]
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(al), len(bl))
}

// Re-running the job for the same as-of gives the same lines, and a later run moves them forward
// in place: the commissions table holds each line once.
func TestCommissionsMoveForwardWithoutDuplicates(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	dir := "../attribution/testdata/cases/r3-base-and-refunds"
	for _, table := range []string{"associations", "orders"} {
		if _, err := db.Import(ctx, importFile(t, dir, table), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	p := attribution.Presets()[attribution.PresetAmbassador2025]
	run := func(asOf time.Time, computed time.Time) []attribution.Line {
		in, err := db.LoadInput(ctx, &p, asOf, nil)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := attribution.Compute(&p, in, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SaveLines(ctx, lines, asOf, computed); err != nil {
			t.Fatal(err)
		}
		return lines
	}
	early := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	first := run(early, time.Unix(1_800_000_000, 0))
	again := run(early, time.Unix(1_800_000_001, 0))
	if ndjson(first) != ndjson(again) {
		t.Fatal("the same as-of gave different lines")
	}
	later := run(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Unix(1_800_000_002, 0))
	cur, err := db.CurrentLines(ctx, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) != len(later) {
		t.Fatalf("commissions holds %d current lines, the last run wrote %d", len(cur), len(later))
	}
	pendingEarly, approvedLater := 0, 0
	for _, l := range first {
		if l.Status == attribution.StatusPending {
			pendingEarly++
		}
	}
	for _, l := range cur {
		if l.Status == attribution.StatusApproved && l.Line == attribution.LineOrder {
			approvedLater++
		}
		if l.Line == attribution.LineClawback && l.Commission != -13500 {
			t.Errorf("clawback read back as %+v", l)
		}
	}
	if pendingEarly == 0 || approvedLater != pendingEarly {
		t.Fatalf("pending on %s: %d; approved later: %d", early.Format(time.DateOnly), pendingEarly, approvedLater)
	}
}

// An association reported with only a click id takes its partner and claim from the click.
func TestAssociationResolvedThroughItsClick(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	claimedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := attribution.Presets()[attribution.PresetAmbassador2025]
	click := firstclaim.Click{ID: "click-1", TS: claimedAt, Link: "l", PartnerID: "pa", Program: p.Name, Outcome: firstclaim.OutcomeClaimed,
		ClaimPartnerID: "pa", ClaimClickID: "click-1", ClaimExpiresAt: claimedAt.Add(p.Window()), NetworkParam: "irclickid", NetworkClickID: "net-77"}
	assoc := firstclaim.Association{ID: "as-1", TS: claimedAt.Add(time.Hour), Program: p.Name, AccountID: "acc", ClickID: "click-1",
		Kind: "register", Source: "s2s"}
	if err := db.Events().Write(ctx, &sink.Batch{Clicks: []firstclaim.Click{click}, Associations: []firstclaim.Association{assoc}}); err != nil {
		t.Fatal(err)
	}
	in, err := db.LoadInput(ctx, &p, claimedAt.Add(48*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Associations) != 1 {
		t.Fatalf("associations: %+v", in.Associations)
	}
	if a := in.Associations[0]; a.PartnerID != "pa" || !a.ClaimedAt.Equal(claimedAt) || !a.TS.Equal(assoc.TS) || a.NetworkClickID != "net-77" {
		t.Fatalf("association read as %+v", a)
	}
	// The network's click id reaches the line, for its postback.
	in.Orders = []attribution.Order{{ID: "o1", AccountID: "acc", TS: claimedAt.Add(2 * time.Hour), Product: "ecs", Category: "compute",
		Billing: "prepaid", Kind: "new", Currency: "CNY", Amount: 10000}}
	lines, err := attribution.Compute(&p, in, claimedAt.Add(48*time.Hour))
	if err != nil || len(lines) != 1 || lines[0].NetworkClickID != "net-77" || lines[0].ClickID != "click-1" || lines[0].PartnerID != "pa" {
		t.Fatalf("lines %+v %v", lines, err)
	}
}

// importFile reads one file of the offline contract, as firstclaim import does.
func importFile(t *testing.T, dir, table string) *attribution.Input {
	t.Helper()
	in := &attribution.Input{}
	f, err := os.Open(filepath.Join(dir, table+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := attribution.ReadTable(in, table, f.Name(), f); err != nil {
		t.Fatal(err)
	}
	return in
}

// Two runs within one second that write different values: the later run is the line's state,
// whatever the order in which ClickHouse reads the rows.
func TestLaterRunOfTheSameSecondWins(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	second := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	l := attribution.Line{Program: "affiliate", Line: "order", Ref: "o1", Status: "pending", Currency: "USD", Base: 100, TS: second}
	for i, status := range []string{"pending", "approved", "rejected"} {
		l.Status = status
		// Written out of order: the run of 700 ms first, then 100 ms, then 900 ms.
		at := second.Add(time.Duration([]int{700, 100, 900}[i]) * time.Millisecond)
		if err := db.SaveLines(ctx, []attribution.Line{l}, second, at); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		cur, err := db.CurrentLines(ctx, "affiliate")
		if err != nil || len(cur) != 1 || cur[0].Status != "rejected" {
			t.Fatalf("current lines %+v %v; want the 900 ms run's", cur, err)
		}
	}
}
