package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// RuntimeEvent is one alert a watch agent sent, with the fields the
// server queries by; Body is the alert as the agent wrote it (Falco's
// JSON shape).
type RuntimeEvent struct {
	UUID                       string
	Received, At               time.Time
	Reporter, Hostname         string
	Rule, Priority             string
	ContainerID, ContainerName string
	Body                       string
}

// AddRuntimeEvents stores the events not stored before (by UUID), in one
// transaction, and returns the ones that were new: an agent that sends a
// spooled batch again after a lost reply adds nothing twice.
func (s *Store) AddRuntimeEvents(ctx context.Context, evs []RuntimeEvent) ([]RuntimeEvent, error) {
	var added []RuntimeEvent
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = added[:0]
		for _, e := range evs {
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO runtime_events (uuid, received, at, reporter, hostname, rule, priority, container_id, container_name, body)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING`),
				e.UUID, millis(e.Received), millis(e.At), e.Reporter, e.Hostname, e.Rule, e.Priority, e.ContainerID, e.ContainerName, e.Body)
			if err != nil {
				return fmt.Errorf("runtime event %s: %w", e.UUID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				added = append(added, e)
			}
		}
		return nil
	})
	return added, err
}

// RuntimeQuery selects runtime events; zero fields match everything.
type RuntimeQuery struct {
	Container string // an ID (or its prefix) or a name
	Rule      string
	Since     time.Time
	Limit     int // default and cap 1000
}

// RuntimeEvents lists events, newest first.
func (s *Store) RuntimeEvents(ctx context.Context, q RuntimeQuery) ([]RuntimeEvent, error) {
	var where []string
	var args []any
	if q.Container != "" {
		where = append(where, "(container_name = ? OR container_id = ?)")
		args = append(args, q.Container, q.Container)
	}
	if q.Rule != "" {
		where = append(where, "rule = ?")
		args = append(args, q.Rule)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, millis(q.Since))
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 1000
	}
	query := `SELECT uuid, received, at, reporter, hostname, rule, priority, container_id, container_name, body FROM runtime_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY at DESC, uuid LIMIT %d", q.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RuntimeEvent
	for rows.Next() {
		var e RuntimeEvent
		var recv, at int64
		if err := rows.Scan(&e.UUID, &recv, &at, &e.Reporter, &e.Hostname, &e.Rule, &e.Priority, &e.ContainerID, &e.ContainerName, &e.Body); err != nil {
			return nil, err
		}
		e.Received, e.At = time.UnixMilli(recv), time.UnixMilli(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// PruneRuntimeEvents removes events that happened before cutoff (the
// audit trail's retention) and says how many.
func (s *Store) PruneRuntimeEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM runtime_events WHERE at < ?`), millis(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
