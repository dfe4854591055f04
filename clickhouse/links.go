package clickhouse

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/links"
)

// LinkVersions implements links.Store (sql/links/since.sql).
func (db *DB) LinkVersions(ctx context.Context, since time.Time, fn func(links.Version) error) error {
	return db.each(ctx, "the links", Query("links/since"), []any{uint32(max(since.Unix(), 0))}, func(rows driver.Rows) error {
		v, err := scanVersion(rows)
		if err != nil {
			return err
		}
		return fn(v)
	})
}

// ChangedLinks implements links.Store (sql/links/changed.sql).
func (db *DB) ChangedLinks(ctx context.Context, since time.Time, fn func(code string, version uint64) error) error {
	return db.each(ctx, "the links' changes", Query("links/changed"), []any{uint32(max(since.Unix(), 0))}, func(rows driver.Rows) error {
		var code string
		var v uint64
		if err := rows.Scan(&code, &v); err != nil {
			return err
		}
		return fn(code, v)
	})
}

// NewestLinks implements links.Store (sql/links/codes.sql), in chunks of codes.
func (db *DB) NewestLinks(ctx context.Context, codes []string) ([]links.Version, error) {
	var out []links.Version
	for len(codes) > 0 {
		part := codes[:min(len(codes), claimChunk)]
		codes = codes[len(part):]
		err := db.each(ctx, "the changed links", Query("links/codes"), []any{part}, func(rows driver.Rows) error {
			v, err := scanVersion(rows)
			out = append(out, v)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LinkHistory implements links.Store (sql/links/history.sql).
func (db *DB) LinkHistory(ctx context.Context, code string) ([]links.Version, error) {
	var out []links.Version
	err := db.each(ctx, "the link's history", Query("links/history"), []any{code}, func(rows driver.Rows) error {
		v, err := scanVersion(rows)
		out = append(out, v)
		return err
	})
	return out, err
}

func scanVersion(rows driver.Rows) (links.Version, error) {
	var v links.Version
	var expires, written uint32
	err := rows.Scan(&v.Code, &v.Version, &v.URL, &v.PartnerID, &v.Program, &v.Campaign, &v.Status, &expires, &v.Actor, &v.Op, &written)
	if expires > 0 {
		v.ExpiresAt = time.Unix(int64(expires), 0).UTC()
	}
	v.WrittenAt = time.Unix(int64(written), 0).UTC()
	return v, err
}

// AppendLinkVersions implements links.Store. written_at is left to ClickHouse's clock.
func (db *DB) AppendLinkVersions(ctx context.Context, vs []links.Version) error {
	return db.insert(ctx, "INSERT INTO link_versions (code, version, url, partner_id, program, campaign, status, expires_at, actor, request, op)",
		len(vs), func(bt driver.Batch, i int) error {
			v := &vs[i]
			return bt.Append(v.Code, v.Version, v.URL, v.PartnerID, v.Program, v.Campaign, v.Status, DateTime(v.ExpiresAt), v.Actor, v.Request, v.Op)
		})
}

// ClaimCodes implements links.Store.
func (db *DB) ClaimCodes(ctx context.Context, claims []links.Claim) error {
	return db.insert(ctx, "INSERT INTO link_claims (code, claimed_ns, writer, request, released)",
		len(claims), func(bt driver.Batch, i int) error {
			c := &claims[i]
			return bt.Append(c.Code, c.At, c.Writer, c.Request, u8(c.Released))
		})
}

// claimChunk is how many codes one read of claims names: the codes go into the query's text, which
// ClickHouse caps (max_query_size, 256 KiB by default).
const claimChunk = 2000

// CodeClaims implements links.Store (sql/links/claims.sql).
func (db *DB) CodeClaims(ctx context.Context, codes []string) ([]links.Claim, error) {
	var out []links.Claim
	for len(codes) > 0 {
		part := codes[:min(len(codes), claimChunk)]
		codes = codes[len(part):]
		err := db.each(ctx, "the codes' claims", Query("links/claims"), []any{part}, func(rows driver.Rows) error {
			var c links.Claim
			err := rows.Scan(&c.Code, &c.At, &c.Writer, &c.Request)
			out = append(out, c)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RequestCodes implements links.Store (sql/links/request.sql).
func (db *DB) RequestCodes(ctx context.Context, request string) ([]string, error) {
	var out []string
	err := db.each(ctx, "the request's links", Query("links/request"), []any{request}, func(rows driver.Rows) error {
		var code string
		err := rows.Scan(&code)
		out = append(out, code)
		return err
	})
	return out, err
}

// Now implements links.Store: ClickHouse's clock (sql/links/clock.sql).
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	var t uint32
	if err := db.conn.QueryRow(ctx, Query("links/clock")).Scan(&t); err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(t), 0).UTC(), nil
}

var _ links.Store = (*DB)(nil)
