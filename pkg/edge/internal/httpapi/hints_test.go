package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/ruleid"
)

// The answers to an unknown route and to a body that is not JSON say
// where the API is described, without rule IDs.
func TestHintsNameNoRuleIDs(t *testing.T) {
	mux := http.NewServeMux()
	var decodeErr error
	mux.HandleFunc("POST /v1/x", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		decodeErr = DecodeJSON(w, r, &v)
	})
	h := Routed(mux)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/nowhere", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "docs/CONTROL-API.md") {
		t.Fatalf("unknown route: %d %s", rec.Code, rec.Body)
	}
	if m := ruleid.Find(rec.Body.String()); m != "" {
		t.Errorf("the unknown route's answer shows %q: %s", m, rec.Body)
	}

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader("{not json")))
	if decodeErr == nil || !strings.Contains(decodeErr.Error(), "docs/CONTROL-API.md") {
		t.Fatalf("a body that is not JSON: %v", decodeErr)
	}
	if m := ruleid.Find(decodeErr.Error()); m != "" {
		t.Errorf("the bad body's error shows %q: %v", m, decodeErr)
	}
}
