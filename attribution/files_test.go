package attribution_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/firstclaim/firstclaim/attribution"
)

// A bad file is refused whole, naming the file, line and field (the offline contract).
func TestBadFilesRefusedWithFileLineField(t *testing.T) {
	const orderHead = "order_id,account_id,ts,product,category,billing,kind,currency,amount,voucher,refund,refunded_at\n"
	const good = "o1,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,CNY,10.00,0,0,\n"
	for _, tc := range []struct{ name, file, body, want string }{
		{"bad time", "orders.csv", orderHead + good + "o2,a1,yesterday,ecs,compute,prepaid,new,CNY,10.00,0,0,\n", "orders.csv:3: ts: \"yesterday\" is not an RFC 3339 time"},
		{"too many decimals", "orders.csv", orderHead + "o2,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,JPY,10.5,0,0,\n", "orders.csv:2: amount: amount \"10.5\" has 1 decimals; JPY has 0"},
		{"unknown kind", "orders.csv", orderHead + "o2,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,reorder,CNY,1,0,0,\n", "orders.csv:2: kind: \"reorder\": want one of new, upgrade, renewal, auto_renewal"},
		{"refund without time", "orders.csv", orderHead + "o2,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,CNY,10,0,5,\n", "orders.csv:2: refunded_at: missing: the order has a refund"},
		{"voucher above amount", "orders.csv", orderHead + "o2,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,CNY,10,11,0,\n", "orders.csv:2: voucher: 11.00 is more than the amount 10.00"},
		{"duplicate id", "orders.csv", orderHead + good + good, "orders.csv:3: order_id: \"o1\" already appears on line 2"},
		{"missing field", "orders.ndjson", `{"order_id": "o1", "ts": "2026-03-02T00:00:00Z"}` + "\n", "orders.ndjson:1: account_id: missing"},
		{"not json", "orders.ndjson", "{\"order_id\": \"o1\"\nnope\n", "orders.ndjson:1: not a JSON object"},
		{"short row", "accounts.csv", "account_id,identity_id,type\na1,i1\n", "accounts.csv:2: 2 fields, the header has 3"},
		{"bad type", "accounts.csv", "account_id,type\na1,vip\n", "accounts.csv:2: type: \"vip\": want one of personal"},
		{"bad level", "partners.csv", "partner_id,level\np1,5\n", "partners.csv:2: level: \"5\": want one of 0, 1, 2, 3, 4"},
		{"bad month", "partners.csv", "partner_id,month\np1,2026-13\n", "partners.csv:2: month: \"2026-13\": want YYYY-MM"},
		{"claim after association", "associations.csv", "ts,program,account_id,partner_id,click_id,kind,claimed_at\n2026-03-01T00:00:00Z,affiliate,a1,p1,c1,register,2026-03-02T00:00:00Z\n", "associations.csv:2: claimed_at: 2026-03-02T00:00:00Z is after the association"},
		{"bad kind", "associations.csv", "ts,program,account_id,partner_id,click_id,kind,claimed_at\n2026-03-01T00:00:00Z,affiliate,a1,p1,c1,signup,2026-03-01T00:00:00Z\n", "associations.csv:2: kind: \"signup\": want one of register, login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			in, err := attribution.ReadDir(os.DirFS(dir))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
			if in != nil {
				t.Fatal("a refused folder returned data")
			}
		})
	}
	// Two files for one table are ambiguous.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(orderHead), 0o644)
	os.WriteFile(filepath.Join(dir, "orders.ndjson"), nil, 0o644)
	if _, err := attribution.ReadDir(os.DirFS(dir)); err == nil || !strings.Contains(err.Error(), "two files for orders") {
		t.Fatalf("err = %v", err)
	}
}

// Columns come in any order and extra columns are ignored; NDJSON takes numbers and booleans.
func TestFilesColumnsInAnyOrder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "accounts.csv"), []byte("note,type,sales_bound,account_id\nhello,reseller,true,a1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "partners.ndjson"), []byte(`{"partner_id": "p1", "level": 3, "excluded": true, "x": [1]}`+"\n"), 0o644)
	_, err := attribution.ReadDir(os.DirFS(dir))
	if err == nil || !strings.Contains(err.Error(), "partners.ndjson:1: x: want a string, number or boolean") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "partners.ndjson"), []byte(`{"partner_id": "p1", "level": 3, "excluded": true}`+"\n"), 0o644)
	in, err := attribution.ReadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if a := in.Accounts[0]; a.ID != "a1" || a.Type != "reseller" || !a.SalesBound {
		t.Fatalf("account %+v", a)
	}
	if p := in.Partners[0]; p.Level != 3 || !p.Excluded {
		t.Fatalf("partner %+v", p)
	}
}

func FuzzReadOrders(f *testing.F) {
	f.Add("order_id,account_id,ts,product,category,billing,kind,currency,amount,voucher,refund,refunded_at\no1,a1,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,CNY,10.00,0,0,\n")
	f.Add(`{"order_id": "o1", "amount": "1e9"}`)
	f.Fuzz(func(t *testing.T, body string) {
		files := fstest.MapFS{}
		for _, name := range []string{"orders.csv", "associations.ndjson", "accounts.csv", "partners.ndjson"} {
			files[name] = &fstest.MapFile{Data: []byte(body)}
		}
		in, err := attribution.ReadDir(files)
		if err != nil {
			return
		}
		for _, o := range in.Orders {
			if o.Amount < 0 || o.Voucher > o.Amount || o.Refund > o.Amount-o.Voucher {
				t.Fatalf("accepted an impossible order %+v", o)
			}
		}
	})
}
