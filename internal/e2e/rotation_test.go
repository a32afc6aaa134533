package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// rotationStore is what the rotation test needs of a store.
type rotationStore interface {
	sp.TokenStore
	samlverify.ReplayCache
}

// TestRefreshRotationFlat (issue 8 item 2): one client rotating its
// refresh token 20,000 times leaves the store as it found it after the
// first few rotations: the same number of entries (memory) or keys
// (Redis), Redis memory flat, and every other user's browser session in
// place, even in a memory store bounded to 16 entries per pool. The
// previous refresh token's tombstone still detects its reuse at the end.
// (Before, each rotation added an access token, a refresh record and a
// used-token marker that lived for the whole login: with Redis 20,000
// rotations added about 100,000 keys, and in the memory store tokens
// evicted browser sessions.)
func TestRefreshRotationFlat(t *testing.T) {
	const rotations = 20_000
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var store rotationStore
			var rdb *redis.Client
			var mem *session.Memory
			switch kind {
			case "memory":
				mem = session.NewMemory(session.MemoryConfig{MaxEntries: 16})
				store = mem
			case "redis":
				rdb = redistest.Start(t).Client()
				r, err := session.NewRedis(rdb, session.RedisConfig{Prefix: "tfgate:"})
				if err != nil {
					t.Fatal(err)
				}
				store = r
			}
			ctx := context.Background()
			count := func() int64 {
				if mem != nil {
					return int64(mem.Len())
				}
				n, err := rdb.DBSize(ctx).Result()
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			usedMemory := func() int64 {
				if rdb == nil {
					return 0
				}
				info, err := rdb.Info(ctx, "memory").Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(info, "\r\n") {
					if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
						n, _ := strconv.ParseInt(v, 10, 64)
						return n
					}
				}
				t.Fatal("no used_memory in INFO")
				return 0
			}

			const base = "http://127.0.0.1:9" // never dialled: the handler is called in process
			dev := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{
				EntityID: base + sp.MetadataPath, ACSURLs: []string{base + sp.ACSPath, base + sp.TokenPath},
			}}})
			md, err := dev.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			idps := idpSet(t, md)
			v, err := samlverify.New(samlverify.Config{
				SPEntityID: base + sp.MetadataPath, ACSURL: base + sp.ACSPath,
				Attributes: samlverify.AttributeMap{Groups: []string{"groups"}, Email: []string{"email"}},
			}, idps, store)
			if err != nil {
				t.Fatal(err)
			}
			h, err := sp.New(sp.Config{
				BaseURL: base, Verifier: v, IdPs: idps, Sessions: store, Tokens: store,
				CookieName: samlCookie, Insecure: true, MaxRotationsPerMinute: 1 << 30,
			})
			if err != nil {
				t.Fatal(err)
			}
			token := h.TokenHandler()
			post := func(form url.Values) (int, tokens) {
				req := httptest.NewRequest("POST", sp.TokenPath, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				token.ServeHTTP(rec, req)
				var tj tokens
				_ = json.Unmarshal(rec.Body.Bytes(), &tj)
				return rec.Code, tj
			}

			// Two other users are signed in in their browsers, their sessions
			// ending before the client's login does (so a shared pool evicting
			// the soonest-expiring entry would pick them).
			bystanders := []string{"tfg_alice-browser-session", "tfg_carol-browser-session"}
			for _, b := range bystanders {
				now := time.Now()
				if err := store.Create(ctx, b, authz.Session{Subject: b, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			user := devidp.DefaultUsers()[0]
			x, _, err := dev.NewAssertion(devidp.ResponseOptions{User: user, ACSURL: base + sp.TokenPath})
			if err != nil {
				t.Fatal(err)
			}
			status, tj := post(bearerForm(x, ""))
			if status != 200 {
				t.Fatalf("assertion exchange: %d %+v", status, tj)
			}
			var warm, warmMem int64
			var prev tokens
			for i := range rotations {
				if i == 100 {
					warm, warmMem = count(), usedMemory()
				}
				prev = tj
				status, tj = post(url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {tj.Refresh}})
				if status != 200 {
					t.Fatalf("rotation %d: %d %+v", i, status, tj)
				}
			}
			end, endMem := count(), usedMemory()
			t.Logf("%s: entries after 100 rotations %d, after %d %d; Redis used_memory %d -> %d bytes",
				kind, warm, rotations, end, warmMem, endMem)
			if end != warm {
				t.Errorf("entries grew from %d to %d over %d rotations", warm, end, rotations-100)
			}
			if rdb != nil && endMem-warmMem > 512<<10 {
				t.Errorf("Redis used_memory grew by %d bytes over %d rotations", endMem-warmMem, rotations-100)
			}
			for _, b := range bystanders {
				if _, err := store.Lookup(ctx, b); err != nil {
					t.Errorf("browser session %s gone after the rotations: %v", b, err)
				}
			}
			for name, tok := range map[string]string{"current": tj.Access, "previous": prev.Access} {
				if _, err := store.Lookup(ctx, tok); err != nil {
					t.Errorf("the %s access token does not work: %v", name, err)
				}
			}
			// The previous refresh token, reused: its tombstone revokes the grant.
			status, got := post(url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {prev.Refresh}})
			if status != 400 || got.Error != "invalid_grant" {
				t.Errorf("reused previous refresh token: %d %+v", status, got)
			}
			if _, err := store.Lookup(ctx, tj.Access); !errors.Is(err, authz.ErrNoSession) {
				t.Errorf("current access token after the reuse: %v, want revoked", err)
			}
		})
	}
}
