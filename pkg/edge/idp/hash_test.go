package idp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/secret"
)

// manyUsers returns n users with distinct passwords.
func manyUsers(n int) []User {
	users := make([]User, n)
	for i := range users {
		users[i] = User{Email: fmt.Sprintf("user%d@example.com", i), Password: secret.New(fmt.Sprintf("password-%d", i))}
	}
	return users
}

func benchOptions(b *testing.B, users []User) Options {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return Options{
		Issuer: "http://idp.localhost:8782", Users: users, SigningKey: key,
		Clients: []Client{{ID: "c", RedirectURIs: []string{"http://acme.localhost:8781/cb"}}},
	}
}

// BenchmarkNewUsers is the IdP's part of starting edged with 2,000 users
// (item 17 of issue 12: 154 s), at the simulator's DefaultBcryptCost and,
// side by side, at bcrypt.DefaultCost (100 users, scaled by the reader).
func BenchmarkNewUsers(b *testing.B) {
	for _, c := range []struct {
		name  string
		users int
		cost  int
	}{{"default-cost/2000", 2000, 0}, {"bcrypt-default-cost/100", 100, bcrypt.DefaultCost}} {
		b.Run(c.name, func(b *testing.B) {
			opts := benchOptions(b, manyUsers(c.users))
			opts.BcryptCost = c.cost
			for b.Loop() {
				if _, err := New(opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSetUsersUnchanged is the IdP's part of a reload of 100 users
// whose passwords did not change (2,000 took 199 s).
func BenchmarkSetUsersUnchanged(b *testing.B) {
	opts := benchOptions(b, manyUsers(100))
	p, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := p.SetUsers(opts.Users); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSetUsersReusesUnchangedHashes: a reload keeps the hash of a password
// that did not change and hashes a changed one; the changed one is the
// one that then matches.
func TestSetUsersReusesUnchangedHashes(t *testing.T) {
	users := manyUsers(3)
	p, err := New(Options{
		Issuer: "http://idp.localhost:8782", Users: users, BcryptCost: bcrypt.MinCost,
		Clients: []Client{{ID: "c", RedirectURIs: []string{"http://acme.localhost:8781/cb"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for k, u := range p.users {
		before[k] = u.hash
	}
	users[1].Password = secret.New("a new password")
	if err := p.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		got := p.users[u.Email]
		same := &got.hash[0] == &before[u.Email][0]
		if same != (i != 1) {
			t.Errorf("user %d: hash reused = %v", i, same)
		}
		if err := bcrypt.CompareHashAndPassword(got.hash, []byte(u.Password.Reveal())); err != nil {
			t.Errorf("user %d: the password does not match its hash: %v", i, err)
		}
	}
	long := append(manyUsers(1), User{Email: "long@example.com", Password: secret.New(string(make([]byte, 73)))})
	if err := p.SetUsers(long); err == nil || !strings.Contains(err.Error(), "longer than 72 bytes") {
		t.Errorf("SetUsers with a 73-byte password: %v", err)
	}
}
