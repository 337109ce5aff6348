package health

import (
	"net/http"
)

// writeJSON writes body, already encoded, with the given status and the
// headers kube-proxy's health endpoints send.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
