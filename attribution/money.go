package attribution

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Money is an exact amount in a currency's minor units (cents, fen), never a float (docs/rules.md §7).
type Money struct {
	Minor    int64
	Currency string
}

// Exponent is the number of minor-unit digits of an ISO 4217 currency. Unknown codes have 2.
func Exponent(currency string) int {
	switch currency {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF", "KMF", "GNF", "DJF", "VUV", "XPF", "BIF":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "IQD", "LYD", "TND":
		return 3
	}
	return 2
}

// ValidCurrency reports whether c looks like an ISO 4217 code.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// ParseAmount reads a decimal string in major units ("123.45", "-3", "0.5") as minor units of
// currency. More decimals than the currency has is an error, never a silent rounding.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	exp := Exponent(currency)
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" || hasDot && frac == "" && intPart == "" {
		return 0, fmt.Errorf("amount %q is not a decimal number", s)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("amount %q has %d decimals; %s has %d", s, len(frac), currency, exp)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("amount %q is not a decimal number", s)
			}
		}
	}
	if len(intPart) > 15 {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	frac += strings.Repeat("0", exp-len(frac))
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if intPart+frac == "" {
		v, err = 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	if neg {
		v = -v
	}
	return v, nil
}

// FormatAmount writes minor units of currency as a decimal string in major units ("123.45").
func FormatAmount(minor int64, currency string) string {
	exp := Exponent(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Rate is an exact fraction such as 0.26, kept as the decimal text it was given.
type Rate struct {
	num   int64 // the digits without the point
	scale int   // digits after the point
}

// ParseRate reads a rate written as a decimal fraction ("0.26", "0.045", "1").
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	intPart, frac, _ := strings.Cut(s, ".")
	if s == "" || intPart == "" && frac == "" || len(frac) > 9 || len(intPart) > 3 {
		return Rate{}, fmt.Errorf("rate %q: want a decimal fraction such as 0.26", s)
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return Rate{}, fmt.Errorf("rate %q: want a decimal fraction such as 0.26", s)
		}
	}
	v, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: %w", s, err)
	}
	return Rate{num: v, scale: len(frac)}, nil
}

// MustRate is ParseRate for constants.
func MustRate(s string) Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}

// IsZero reports whether the rate is 0.
func (r Rate) IsZero() bool { return r.num == 0 }

// String writes the rate as a decimal fraction without trailing zeros ("0.26", "0.1", "0").
func (r Rate) String() string {
	s := strconv.FormatInt(r.num, 10)
	if r.scale == 0 {
		return s
	}
	if len(s) <= r.scale {
		s = strings.Repeat("0", r.scale-len(s)+1) + s
	}
	s = s[:len(s)-r.scale] + "." + s[len(s)-r.scale:]
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Apply returns base × r rounded half-up (away from zero for negative bases) to the minor unit,
// once (docs/rules.md §7).
func (r Rate) Apply(base int64) int64 {
	p := new(big.Int).Mul(big.NewInt(base), big.NewInt(r.num))
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(r.scale)), nil)
	neg := p.Sign() < 0
	p.Abs(p)
	q, m := new(big.Int).QuoRem(p, d, new(big.Int))
	if m.Lsh(m, 1).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return q.Int64()
}
