package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is a person who logs in with a password.
type User struct {
	Name         string
	PasswordHash string
	Admin        bool
}

// Robot is a machine account: a token limited to scopes until it expires.
type Robot struct {
	Name      string
	TokenHash string
	// Scopes are "project:action,action" entries.
	Scopes  []string
	Expires time.Time
}

// ErrExists is returned when creating something that already exists.
var ErrExists = errors.New("already exists")

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateUser adds a user; ErrExists if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?)`),
		u.Name, u.PasswordHash, boolInt(u.Admin), millis(s.now()))
	if err != nil && isUniqueViolation(err) {
		return fmt.Errorf("user %s: %w", u.Name, ErrExists)
	}
	return err
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, name, hash string) error {
	return execOne(ctx, s.db, s.q(`UPDATE users SET password_hash = ? WHERE name = ?`), hash, name)
}

// GetUser returns a user, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (*User, error) {
	u := &User{Name: name}
	var admin int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT password_hash, admin FROM users WHERE name = ?`), name).Scan(&u.PasswordHash, &admin)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	u.Admin = admin != 0
	return u, err
}

// CountUsers says how many users exist (zero on a first start).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// EnsureProject creates a project if it does not exist.
func (s *Store) EnsureProject(ctx context.Context, name string, public bool) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO projects (name, public, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, boolInt(public), millis(s.now()))
	return err
}

// SetPublic opens a project to anonymous pulls, or closes it.
func (s *Store) SetPublic(ctx context.Context, name string, public bool) error {
	return execOne(ctx, s.db, s.q(`UPDATE projects SET public = ? WHERE name = ?`), boolInt(public), name)
}

// ProjectPublic says whether anyone may pull from a project; ErrNotFound
// for a project that does not exist.
func (s *Store) ProjectPublic(ctx context.Context, name string) (bool, error) {
	var public int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT public FROM projects WHERE name = ?`), name).Scan(&public)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	return public != 0, err
}

// SetMember gives a user a role in a project (replacing any other).
func (s *Store) SetMember(ctx context.Context, project, user, role string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO members (project, username, role) VALUES (?, ?, ?)
		ON CONFLICT (project, username) DO UPDATE SET role = excluded.role`), project, user, role)
	return err
}

// Role returns a user's role in a project, "" when none.
func (s *Store) Role(ctx context.Context, project, user string) (string, error) {
	var role string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT role FROM members WHERE project = ? AND username = ?`), project, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// CreateRobot adds a robot account.
func (s *Store) CreateRobot(ctx context.Context, r Robot) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO robots (name, token_hash, scopes, expires_at, created_at) VALUES (?, ?, ?, ?, ?)`),
		r.Name, r.TokenHash, strings.Join(r.Scopes, " "), millis(r.Expires), millis(s.now()))
	if err != nil && isUniqueViolation(err) {
		return fmt.Errorf("robot %s: %w", r.Name, ErrExists)
	}
	return err
}

// GetRobot returns a robot account, or ErrNotFound.
func (s *Store) GetRobot(ctx context.Context, name string) (*Robot, error) {
	r := &Robot{Name: name}
	var scopes string
	var expires int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT token_hash, scopes, expires_at FROM robots WHERE name = ?`), name).Scan(&r.TokenHash, &scopes, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	r.Scopes = strings.Fields(scopes)
	r.Expires = time.UnixMilli(expires)
	return r, err
}

// Setting returns a server setting, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// InitSetting stores value unless the setting exists, and returns the
// stored value: replicas starting together agree on one.
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value); err != nil {
		return "", err
	}
	return s.Setting(ctx, name)
}

// PutSetting stores a server setting.
func (s *Store) PutSetting(ctx context.Context, name, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`), name, value)
	return err
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "duplicate key value") || strings.Contains(msg, "SQLSTATE 23505")
}

// ListUsers returns every user, by name (password hashes included: the
// caller shows only what it may).
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, admin FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var admin int
		if err := rows.Scan(&u.Name, &admin); err != nil {
			return nil, err
		}
		u.Admin = admin != 0
		out = append(out, u)
	}
	return out, rows.Err()
}

// ListRobots returns every robot account, by name, without token hashes.
func (s *Store) ListRobots(ctx context.Context) ([]Robot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, scopes, expires_at FROM robots ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Robot
	for rows.Next() {
		var r Robot
		var scopes string
		var expires int64
		if err := rows.Scan(&r.Name, &scopes, &expires); err != nil {
			return nil, err
		}
		r.Scopes, r.Expires = strings.Fields(scopes), time.UnixMilli(expires)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteRobot revokes a robot account; ErrNotFound if there is none.
func (s *Store) DeleteRobot(ctx context.Context, name string) error {
	return execOne(ctx, s.db, s.q(`DELETE FROM robots WHERE name = ?`), name)
}
