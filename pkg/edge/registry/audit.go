package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// AuditRecord is one entry of the append-only audit log (GET
// /admin/v1/audit): IdP authorize requests and logins, gateway decisions,
// registrations, refreshes, departures and revocations. Detail is JSON and
// never carries a secret.
type AuditRecord struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	Actor    string          `json:"actor,omitempty"`
	DeviceID string          `json:"device_id,omitempty"`
	Detail   json.RawMessage `json:"detail"`
}

// Audit appends a record made elsewhere in the edge (the IdP, Access, the
// gateway); detail is marshalled to JSON. It returns the stored record.
func (r *Registry) Audit(ctx context.Context, kind, actor, deviceID string, detail any) (AuditRecord, error) {
	if kind == "" {
		return AuditRecord{}, invalid("audit record without a kind", "name what happened, such as idp_login")
	}
	var rec AuditRecord
	err := r.write(ctx, func(tx *sql.Tx) error {
		now := r.now()
		b, seq, err := r.auditInsert(ctx, tx, now, kind, actor, deviceID, detail)
		rec = AuditRecord{Seq: seq, Time: now, Kind: kind, Actor: actor, DeviceID: deviceID, Detail: b}
		return err
	})
	return rec, err
}

func (r *Registry) auditTx(ctx context.Context, tx *sql.Tx, now time.Time, kind, actor, deviceID string, detail any) error {
	_, _, err := r.auditInsert(ctx, tx, now, kind, actor, deviceID, detail)
	return err
}

func (r *Registry) auditInsert(ctx context.Context, tx *sql.Tx, now time.Time, kind, actor, deviceID string, detail any) ([]byte, int64, error) {
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, 0, fmt.Errorf("registry: encode %s audit record: %w", kind, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO audit (time, kind, actor, device_id, detail) VALUES (?, ?, ?, ?, ?)`,
		now.UnixNano(), kind, actor, deviceID, string(b))
	if err != nil {
		return nil, 0, fmt.Errorf("registry: append %s audit record: %w", kind, err)
	}
	seq, err := res.LastInsertId()
	return b, seq, err
}

// AuditAfter returns up to limit audit records with a sequence number
// greater than seq, oldest first (limit ≤ 0 means DefaultPage; at most
// MaxPage).
func (r *Registry) AuditAfter(ctx context.Context, seq int64, limit int) ([]AuditRecord, error) {
	if r.isClosed() {
		return nil, errClosed
	}
	rows, err := r.db.QueryContext(ctx, `SELECT seq, time, kind, actor, device_id, detail FROM audit
		WHERE seq > ? ORDER BY seq LIMIT ?`, seq, page(limit))
	if err != nil {
		return nil, fmt.Errorf("registry: read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var rec AuditRecord
		var t int64
		var detail string
		if err := rows.Scan(&rec.Seq, &t, &rec.Kind, &rec.Actor, &rec.DeviceID, &detail); err != nil {
			return nil, err
		}
		rec.Time, rec.Detail = fromNanos(t), json.RawMessage(detail)
		out = append(out, rec)
	}
	return out, rows.Err()
}
